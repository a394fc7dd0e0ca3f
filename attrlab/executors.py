"""Where a study's jobs run: this process, N local processes, or Ray tasks.

All three run the same job function (:func:`execute`) on the same plan; the only scheduling is
ordering by dependencies (an attribution job starts when its unit's training jobs are done):
``concurrent.futures`` for local processes, Ray's own task graph (object references passed as
arguments) on a cluster. A job writes everything it makes into the run folder and the model cache
itself, atomically, so the executors only carry small result dicts back.

Each job sets torch's thread count to the study's ``threads`` before it computes, because float
results (and so records) change with it: the same study gives the same records on 1 worker, 2
workers or Ray. Local workers are *spawned* (a forked torch with OpenMP threads can hang), get
the run's environment files and cache folder, and take CUDA devices round-robin when the device is
``auto``/``cuda`` and GPUs are present; Ray requests one GPU per job instead.

Example:
    >>> import tempfile
    >>> from attrlab.study import Study, plan
    >>> study = Study.from_dict({"seeds": "0", "run": [{"environment": "attributionlab", "methods": ["gradient"],
    ...                           "options": {"n_images": 2, "size": 32}}]})
    >>> results = execute_plan(plan(study), tempfile.mkdtemp(), progress=False)
    >>> [(r["kind"], r["status"]) for r in results]
    [('train', 'ok'), ('train', 'ok'), ('attribute', 'ok')]
"""
from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .errors import AttrlabError, one_line, warning_line
from .storage import write_atomic
from .jobs import Job, Plan

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class JobContext:
    """What every job needs besides itself (picklable: it travels to worker processes)."""

    out: str
    device: str = "auto"
    threads: int = 1
    batch_size: int = 8
    threshold: float = 0.01
    env_files: tuple[str, ...] = ()
    cache: str | None = None
    cwd: str = "."


def _unit_dir(ctx: JobContext, job: Job) -> Path:
    return Path(ctx.out) / "units" / job.unit.name


def _marker(ctx: JobContext, job: Job) -> Path:
    if job.kind == "train":
        return Path(ctx.out) / "train" / f"{job.id}.json"
    return _unit_dir(ctx, job) / "study-job.json"


def done(ctx: JobContext, job: Job) -> dict | None:
    """The result of ``job`` when an earlier run of the study finished it (its marker), else None."""
    path = _marker(ctx, job)
    if job.kind == "attribute" and not (_unit_dir(ctx, job) / "records.csv").exists():
        return None
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if result.get("id") == job.id and result.get("status") == "ok" else None


def _prepare(ctx: JobContext) -> None:
    """Per job (cheap; a worker may serve several studies): threads, cache, cwd, environment files."""
    import torch

    from .allocator import release_free_memory

    release_free_memory()  # in a tuned process (a worker, the command): the last job's holes back to the kernel
    torch.set_num_threads(ctx.threads)
    if ctx.cache:
        os.environ["ATTRLAB_CACHE"] = ctx.cache
    if ctx.cwd and os.getcwd() != ctx.cwd:
        os.chdir(ctx.cwd)
    if ctx.env_files:
        import runpy

        for path in ctx.env_files:
            if path in _LOADED:
                continue
            try:
                runpy.run_path(path, run_name="attrlab_environment_file")
            except AttrlabError as exc:  # already registered in this process (the CLI ran it)
                if "registered twice" not in str(exc):
                    raise
            _LOADED.add(path)


_LOADED: set[str] = set()  # environment files this process has run


def _device(ctx: JobContext, index: int) -> str:
    """``auto``/``cuda`` with GPUs: round-robin over them by job index; otherwise as asked."""
    import torch

    if ctx.device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{index % torch.cuda.device_count()}"
    return "cpu" if ctx.device == "auto" else ctx.device


def _result(job: Job, error: str = "") -> dict:
    """A job's result record: ``ok``, or ``failed`` with its one-line ``error``."""
    return {"id": job.id, "kind": job.kind, "unit": job.unit.name, "setting": job.setting or "",
            "seed": job.unit.seed, "status": "failed" if error else "ok", "error": error, "seconds": 0.0,
            "verified": None}


def execute(job: Job, ctx: JobContext, index: int = 0, *deps: dict) -> dict:
    """Run one job (or return its earlier result); never raises for a failing job: the result
    says ``status="failed"`` with a one-line ``error``."""
    previous = done(ctx, job)
    if previous is not None:
        return {**previous, "cached": True}
    result = _result(job)
    failed = [d for d in deps if d and d.get("status") != "ok"]
    if failed:
        return {**result, "status": "failed", "error": f"training failed: {failed[0]['error']}"}
    t0 = time.perf_counter()
    try:
        _prepare(ctx)
        device = _device(ctx, index)
        unit = job.unit
        if job.kind == "train":
            from .environments import get_environment

            env = get_environment(unit.environment).build(
                unit.preset, seed=unit.seed, settings=[job.setting] if job.setting else unit.settings, device=device,
                progress=False, **unit.options)
            result["verified"] = env.verification.passed
        else:
            from .evaluation import MetricConfig
            from .runner import RunConfig, run

            out = run(RunConfig(environment=unit.environment, out_dir=_unit_dir(ctx, job), preset=unit.preset,
                                seed=unit.seed, device=device, methods=list(unit.methods) if unit.methods else None,
                                settings=list(unit.settings) if unit.settings else None, batch_size=ctx.batch_size,
                                metrics=MetricConfig(threshold=ctx.threshold, automatic=unit.auto_metrics),
                                options=dict(unit.options),
                                progress=False, report=False))
            result["verified"] = json.loads((out / "verification.json").read_text()).get("passed")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failing job is recorded, never fatal to the study
        result.update(status="failed", error=one_line(exc))
        if os.environ.get("ATTRLAB_DEBUG"):
            traceback.print_exc()
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if result["status"] == "ok":
        marker = _marker(ctx, job)
        marker.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, lambda p: p.write_text(json.dumps(result)))
    return result


def _execute_remote(job: Job, ctx: JobContext, index: int, *deps: dict) -> dict:  # a Ray task's body
    return execute(job, ctx, index, *deps)


def _worker_init() -> None:
    import warnings

    warnings.formatwarning = warning_line
    from .allocator import tune_allocator

    tune_allocator()  # a worker attrlab spawned is attrlab's own process (attrlab/allocator.py)
    _exit_with_parent()


def _exit_with_parent(poll: float = 1.0) -> None:
    """End this worker process when the process that started it is gone (killed alone, e.g. by a
    SIGTERM to the study's main process): a spawned worker would otherwise train on for minutes
    with nobody to collect its result (seen: two workers of a killed ``attrlab run --workers 2``
    went on for 29 minutes). Ctrl-C reaches the whole process group and needs no watchdog."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    threading.Thread(target=watch, name="attrlab-parent-watch", daemon=True).start()


def execute_plan(plan: Plan, out: str | Path, *, workers: int = 1, backend: str = "local", address: str | None = None,
                 device: str = "auto", threads: int = 1, env_files: tuple[str, ...] = (), progress: bool = True,
                 batch_size: int | None = None, threshold: float | None = None) -> list[dict]:
    """Run every job of ``plan`` not already done; results in plan order. One progress bar over
    all jobs, with trained/total models in its postfix."""
    from tqdm.auto import tqdm

    if backend not in BACKENDS:
        raise AttrlabError(f"unknown backend '{backend}'; choose {' or '.join(BACKENDS)}")
    if not isinstance(workers, int) or workers < 1:
        raise AttrlabError(f"workers must be a positive integer, got {workers!r}")
    ctx = JobContext(out=str(Path(out).resolve()), device=device, threads=threads,
                     batch_size=batch_size or plan.study.batch_size,
                     threshold=plan.study.threshold if threshold is None else threshold,
                     env_files=tuple(str(Path(f).resolve()) for f in env_files),
                     cache=os.environ.get("ATTRLAB_CACHE"), cwd=os.getcwd())
    results: dict[str, dict] = {}
    for job in plan.jobs:
        previous = done(ctx, job)
        if previous is not None:
            results[job.id] = {**previous, "cached": True}
    n_models = len(plan.training)
    bar = tqdm(total=len(plan.jobs), initial=len(results), desc=f"study {plan.study.name}", unit="job",
               disable=not progress, dynamic_ncols=True)

    def finished(job: Job, result: dict) -> None:
        results[job.id] = result
        trained = sum(1 for j in plan.training if j.id in results)
        failed = sum(1 for r in results.values() if r["status"] != "ok")
        bar.set_postfix_str(f"models {trained}/{n_models}" + (f" · {failed} failed" if failed else ""), refresh=False)
        bar.update(1)

    pending = [(k, j) for k, j in enumerate(plan.jobs) if j.id not in results]
    try:
        if backend == "ray":
            _run_ray(pending, ctx, results, finished, workers, address)
        elif workers == 1:
            _run_here(pending, ctx, results, finished)
        else:
            _run_processes(pending, ctx, results, finished, workers)
    finally:
        bar.close()
    return [results[j.id] for j in plan.jobs if j.id in results]


def _run_here(pending, ctx, results, finished) -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        for k, job in pending:
            finished(job, execute(job, ctx, k, *(results.get(d) for d in job.deps)))
    finally:
        torch.set_num_threads(threads)


def _run_processes(pending, ctx, results, finished, workers: int) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    waiting = list(pending)
    running: dict = {}
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init)
    try:
        while waiting or running:
            ready = [(k, j) for k, j in waiting if all(d in results for d in j.deps)]
            for k, job in ready:
                waiting.remove((k, job))
                running[pool.submit(execute, job, ctx, k, *(results[d] for d in job.deps))] = job
            if not running:
                raise AttrlabError("the study's jobs wait on jobs that are not in it")  # cannot happen with plan()
            finished_now, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished_now:
                job = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # the worker process died (killed, out of memory)
                    result = _result(job, f"worker process failed: {type(exc).__name__}: {exc}"[:300])
                finished(job, result)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _run_ray(pending, ctx, results, finished, workers: int, address: str | None) -> None:
    try:
        import ray
    except ImportError:
        raise AttrlabError("the Ray backend needs Ray: pip install 'attrlab[ray]'") from None
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        try:
            if address:
                ray.init(address=address, **kwargs)
            else:
                ray.init(num_cpus=workers * ctx.threads, **kwargs)
        except Exception as exc:  # no cluster at that address, a port taken, ...
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise AttrlabError(f"cannot {'reach the Ray cluster at ' + address if address else 'start a local Ray'}: "
                               f"{first}") from None
        started = True
    try:
        gpus = 1 if ctx.device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0
        task = ray.remote(_execute_remote)
        refs, jobs_of = {}, {}
        for k, job in pending:
            deps = [refs[d] if d in refs else results[d] for d in job.deps]
            device = ctx.device if not gpus else "cuda"
            ref = task.options(num_cpus=ctx.threads, num_gpus=gpus, max_retries=0).remote(
                job, JobContext(**{**ctx.__dict__, "device": device}), k, *deps)
            refs[job.id] = ref
            jobs_of[ref] = job
        left = list(jobs_of)
        while left:
            ready, left = ray.wait(left, num_returns=1)
            for ref in ready:
                job = jobs_of[ref]
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task's worker died
                    result = _result(job, f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                finished(job, result)
    finally:
        if started:
            ray.shutdown()
