"""Peak memory of full SMERF's largest training set (Complex-CR1: 10 buckets x 15,000 = 150,000
images of 3x64x64), generated as attrlab's SMERF environment does for training (uint8, one grey
channel on the black background: textbox.StoredImages), with the 4,000 validation images (float32).

    python benchmarks/bench_memory.py [--background black|noise]

Prints the images' bytes, the process's peak resident memory and the float32 size it replaces.
Target (issue 12): well under 2 GB.
"""
import argparse
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--background", default="black")
    ap.add_argument("--setting", default="complex-cr1")
    args = ap.parse_args()
    from attrlab.environments.smerf import _data
    from attrlab.environments.smerf_table import get_setting

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    setting = get_setting(args.setting)
    t0 = time.perf_counter()
    train, labels = _data(setting, setting.train_per_bucket, 1, args.background, None, stored=True)
    seconds = time.perf_counter() - t0
    val, _ = _data(setting, {0: setting.val_per_bucket, 1: setting.val_per_bucket}, 2, args.background, None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(train.images)
    print(f"{args.setting} {args.background}: {n} training images generated in {seconds:.0f} s; stored "
          f"{train.images.nbytes / 2**20:.0f} MiB (float32 would be {n * 3 * 64 * 64 * 4 / 2**20:.0f} MiB); "
          f"validation {val.images.numel() * 4 / 2**20:.0f} MiB float32; peak RSS {peak:.0f} MiB "
          f"(after imports {base:.0f} MiB)")


if __name__ == "__main__":
    main()
