"""Property-based: random values of every declared option and method parameter give a result or
one line of error (exit 2), never a traceback. Bounded (a few dozen examples, ~30 s)."""
import pathlib
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attrlab.cli import main
from attrlab.environments import get_environment, list_environments
from attrlab.errors import AttrlabError
from attrlab.methods import describe, list_methods

TEXT = st.one_of(st.integers(-5, 70).map(str), st.one_of(st.floats(-2, 2), st.sampled_from([float("nan"), float("inf")])).map(str),
                 st.sampled_from(["", "abc", "true", "1e9", "-0", "nan", "quickshift", "zeros", "data"]))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_option_value_resolves_or_is_refused_in_words(data):
    name = data.draw(st.sampled_from(list_environments()))
    spec = get_environment(name).spec
    opt = data.draw(st.sampled_from(spec.options))
    value = data.draw(TEXT)
    try:
        resolved = spec.resolve("quick", {opt.name: value})
    except AttrlabError as exc:
        assert opt.name in str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(resolved[opt.name], (opt.type, type(None)))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_method_parameter_parses_or_is_refused_in_words(data):
    from attrlab.methods import get_method

    name = data.draw(st.sampled_from(list_methods()))
    params = describe(name).defaults
    if not params:
        return
    key = data.draw(st.sampled_from(sorted(params)))
    value = data.draw(TEXT)
    try:
        get_method(f"{name}:{key}={value}")
    except AttrlabError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.sampled_from(["16", "24", "32", "0", "-4", "x"]), n_images=st.sampled_from(["1", "2", "0", "two"]),
       n_colours=st.sampled_from(["2", "4", "10", "11", "1"]), n_redundant=st.sampled_from(["1", "3", "0"]),
       method=st.sampled_from(["occlusion:window=3:stride=1", "occlusion:window=40", "lime:samples=5:segmentation=slic",
                               "integrated_gradients:steps=1", "smoothgrad:samples=2:noise=0", "gradcam:layer=nope",
                               "kernel_shap:samples=3:segmentation=felzenszwalb", "edge"]),
       batch=st.sampled_from(["1", "3", "0"]))
def test_a_tiny_run_with_random_values_ends_in_records_or_one_line(capsys, size, n_images, n_colours, n_redundant,
                                                                   method, batch):
    out = pathlib.Path(tempfile.mkdtemp()) / "run"
    code = main(["run", "attributionlab", "--no-progress", "--out", str(out), "--methods", f"{method},random",
                 "--batch-size", batch, "--set", f"size={size}", "--set", f"n_images={n_images}",
                 "--set", f"n_colours={n_colours}", "--set", f"n_redundant={n_redundant}"])
    err = capsys.readouterr().err.strip()
    if code == 0:
        assert (out / "records.csv").exists() and (out / "report.html").exists()
    else:
        assert code == 2, err
        assert len(err.splitlines()) == 1 and err.startswith("attrlab: error:"), err
        assert not out.exists()
