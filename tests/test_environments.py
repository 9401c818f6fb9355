"""Each environment (conf/<env>) keeps its own artefacts under its data_root; what every data set shares stays
in data/."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kedro.io import DatasetError

from crack_pipeline.config import environment_config, in_project, tracking_uri, variant_names
from crack_pipeline.datasets import ImageFolderDataset
from tests.conftest import PROJECT_ROOT

# The entries every environment shares: the synthetic set, the crack segmenter trained on it, mask tiles
# (data.sources name them by path) and the fetch report (fetched data sets land in data/01_raw).
SHARED = {
    "synthetic_images",
    "synthetic_masks",
    "crack_segmenter",
    "latest_crack_segmenter",
    "previous_crack_segmenter",
    "mask_tile_images",
    "mask_tile_summary",
    "fetch_summary",
}


@pytest.mark.parametrize(
    "env, root", [("local", "data"), ("general", "data/general"), ("ozgenel", "data/ozgenel")]
)
def test_each_environment_keeps_its_own_artefacts_and_shares_the_common_ones(monkeypatch, env, root):
    monkeypatch.chdir(PROJECT_ROOT)
    config = environment_config(env)
    catalog = config["catalog"]
    stored = {
        name: entry.get("filepath") or entry.get("path")
        for name, entry in catalog.items()
        if not name.startswith("_") and str(entry.get("filepath") or entry.get("path")).startswith("data/")
    }  # the project's own files, not the folders a run reads (data.source_dir, explain.input_dir, ...)
    assert set(stored) > SHARED and len(stored) > 40
    for name, where in stored.items():
        assert where.startswith("data/0" if name in SHARED else f"{root}/0"), (name, where)
    assert catalog["previous_split_manifest"]["filepath"] == catalog["split_manifest"]["filepath"]
    for view in ("latest_crack_segmenter", "previous_crack_segmenter"):
        assert catalog[view]["filepath"] == catalog["crack_segmenter"]["filepath"]
    assert config["parameters"]["train"]["resume_dir"] == str(PROJECT_ROOT / root / "06_models/in_progress")


@pytest.mark.parametrize("env", ["local", "ozgenel"])
def test_the_one_folder_environments_read_the_folder_given(monkeypatch, tmp_path, env):
    """`data.source_dir` is the folder read in every environment that reads one; Özgenel's was ignored."""
    monkeypatch.chdir(PROJECT_ROOT)
    given = environment_config(env, {"data": {"source_dir": str(tmp_path)}})["catalog"]["raw_images"]
    assert given["path"] == str(tmp_path)


def test_without_a_folder_the_ozgenel_environment_reads_its_default_or_says_which_setting_to_give(
    monkeypatch, tmp_path
):
    monkeypatch.chdir(PROJECT_ROOT)
    entry = environment_config("ozgenel")["catalog"]["raw_images"]
    assert entry["path"] is None and entry["default"] == {"path": "../shared/data/ozgenel_dev"}
    moved = tmp_path / "moved"
    settings = {key: entry[key] for key in ("path", "parameter")} | {"default": {"path": str(moved)}}
    with pytest.raises(DatasetError, match=f"data.source_dir is not set and the default {moved} does not"):
        ImageFolderDataset(**settings).load()


def test_the_ozgenel_environment_needs_no_folder_of_its_own_where_data_sources_lists_them(
    monkeypatch, tmp_path
):
    """README "Keep what the model knew" in conf/ozgenel: with its default folder elsewhere, the run stopped
    asking for data.source_dir, which data.sources then refuses."""
    monkeypatch.chdir(PROJECT_ROOT)
    sources = [{"domain": name, "path": str(tmp_path / name)} for name in ("ozgenel", "site_b")]
    entry = environment_config("ozgenel", {"data": {"sources": sources}})["catalog"]["raw_images"]
    settings = {k: v for k, v in entry.items() if k not in ("type", "metadata")}
    assert ImageFolderDataset(**settings | {"default": {"path": str(tmp_path / "moved")}}).load() is None
    (tmp_path / "x.png").write_bytes(b"")
    assert ImageFolderDataset(**settings | {"path": str(tmp_path)}).load().root == tmp_path  # given: read


def make_mlflow_ui(fake_bin: Path, env: str) -> subprocess.CompletedProcess:
    """`make mlflow-ui` in environment `env`, with a fake `mlflow` that prints what it was asked."""
    fake_bin.mkdir(exist_ok=True)
    (fake_bin / "mlflow").write_text('#!/bin/sh\necho "$@"\n')
    (fake_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for tool in ("mlflow", "python"):
        (fake_bin / tool).chmod(0o755)
    return subprocess.run(
        # -o: the venv taken as installed, so that the fake python is never asked to install it
        ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", "-C", str(PROJECT_ROOT)]
        + ["mlflow-ui", f"BIN={fake_bin}"],
        capture_output=True,
        text=True,
        env={**os.environ, "KEDRO_ENV": env},
    )


def test_make_mlflow_ui_browses_the_environments_own_store_or_none(tmp_path, monkeypatch):
    general = make_mlflow_ui(tmp_path / "bin", "general")
    assert general.returncode == 0, general.stderr
    assert (
        general.stdout.splitlines()[-1]
        == f"ui --backend-store-uri sqlite:///{PROJECT_ROOT}/mlflow_general.db"
    )
    unknown = make_mlflow_ui(tmp_path / "bin", "genral")
    assert unknown.returncode != 0 and "ui --backend-store-uri" not in unknown.stdout, "no store opened"
    assert "make mlflow-ui: no MLflow store for environment genral" in unknown.stderr
    assert "Traceback" not in unknown.stderr, "its one line, not Kedro's MissingConfigException first"
    monkeypatch.chdir(PROJECT_ROOT)
    assert tracking_uri("local") == f"sqlite:///{PROJECT_ROOT}/mlflow.db", "the default environment's"


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("sqlite:///mlflow.db", "sqlite:////srv/site/mlflow.db"),
        ("sqlite:///stores/a.db", "sqlite:////srv/site/stores/a.db"),
        ("sqlite:////var/mlflow.db", "sqlite:////var/mlflow.db"),
        ("http://tracking:5000", "http://tracking:5000"),
        ("mlruns", "mlruns"),  # kedro-mlflow anchors plain paths itself
    ],
)
def test_only_a_relative_sqlite_store_is_anchored_in_the_project(uri, expected):
    assert in_project(uri, Path("/srv/site")) == expected


def test_a_relative_mlflow_store_and_its_artefacts_lie_in_the_project_wherever_kedro_starts(
    tmp_path, monkeypatch
):
    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")  # a notebook kernel's working directory
    loader = CONFIG_LOADER_CLASS(conf_source=str(project / "conf"), **CONFIG_LOADER_ARGS)
    mlflow_config = loader["mlflow"]
    assert mlflow_config["server"]["mlflow_tracking_uri"] == f"sqlite:///{project.as_posix()}/mlflow.db"
    experiment = mlflow_config["tracking"]["experiment"]["create_experiment_kwargs"]
    assert experiment["artifact_location"] == f"{project.as_posix()}/mlruns"


def test_folder_settings_lie_in_the_project_wherever_kedro_starts_and_tilde_is_home(tmp_path, monkeypatch):
    """Relative folders in the parameters are taken from the project, as Kedro takes the catalog's paths;
    data.sources was read from the working directory, so a notebook kernel found none of its folders."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "elsewhere/deep").mkdir(parents=True)
    (project / "linked").symlink_to(tmp_path / "elsewhere/deep")
    given = {
        "data": {
            "source_dir": "~/photos",
            "sources": [
                {"domain": "a", "path": "../a"},
                {"domain": "b"},
                {"domain": "c", "path": "~nobody_s/x"},
                {"domain": "d", "path": "linked/../x"},
            ],
        },
        "explain": {"input_dir": "/srv/photos", "scales": "scales.csv"},
        "train": {"models": {"small_cnn": {"weights_path": "weights/small.pt"}}},
    }
    loader = CONFIG_LOADER_CLASS(
        conf_source=str(project / "conf"), runtime_params=given, **CONFIG_LOADER_ARGS
    )
    parameters = loader["parameters"]
    assert parameters["data"]["source_dir"] == str(tmp_path / "home/photos")
    assert parameters["data"]["sources"] == [
        {"domain": "a", "path": str(tmp_path / "a")},  # as the user finds it (messages showed project/../a)
        {"domain": "b"},
        {"domain": "c", "path": str(project / "~nobody_s/x")},  # no such user: a folder of that name
        {"domain": "d", "path": str(project / "linked/../x")},  # "..": the link's target's parent, kept
    ]
    assert parameters["explain"]["input_dir"] == "/srv/photos"
    assert parameters["explain"]["masks_dir"] is None
    assert parameters["explain"]["scales"] == str(project / "scales.csv")  # was read from notebooks/
    assert parameters["train"]["models"]["small_cnn"]["weights_path"] == str(project / "weights/small.pt")
    assert parameters["train"]["resume_dir"] == str(project / "data/06_models/in_progress")
    assert parameters["fetch"]["lock_file"] == str(project / "conf/base/fetch.lock.json")
    assert parameters["train"]["models"]["small_cnn"]["architecture"] == "small_cnn", "other settings kept"
    assert loader["catalog"]["raw_images"]["path"] == str(tmp_path / "home/photos")


def test_a_folder_given_with_dots_reaches_the_catalog_as_the_parameters_hold_it(tmp_path, monkeypatch):
    """--params=data.source_dir=<project>/../photos (or ../photos) reached the catalog as typed: ingest's
    messages named `<project>/../photos`, and the image index recorded it, where the parameters had
    `<parent>/photos`; so did evaluate_folder.path, explain.masks_dir and mask_tiles' folders."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    monkeypatch.chdir(project)
    (tmp_path / "elsewhere/deep").mkdir(parents=True)
    (project / "linked").symlink_to(tmp_path / "elsewhere/deep")
    given = {
        "data": {"source_dir": f"{project}/../photos"},
        "evaluate_folder": {"path": "../site/../labelled"},
        "explain": {"masks_dir": "linked/../masks"},  # "..": the link's target's parent, kept
        "mask_tiles": {"images_dir": "./tiles/../images"},
    }
    conf = str(project / "conf")
    loader = CONFIG_LOADER_CLASS(conf_source=conf, runtime_params=given, **CONFIG_LOADER_ARGS)
    catalog, parameters = loader["catalog"], loader["parameters"]
    assert catalog["raw_images"]["path"] == parameters["data"]["source_dir"] == str(tmp_path / "photos")
    assert catalog["evaluate_folder_images"]["path"] == str(tmp_path / "labelled")
    assert catalog["explain_masks"]["path"] == str(project / "linked/../masks")
    assert catalog["masked_photos"]["path"] == str(project / "images")


# An empty folder or file setting as a user gives it, and the name it is refused with.
EMPTY_PATHS = {
    "data.source_dir": {"data": {"source_dir": ""}},
    "data.sources[1].path": {
        "data": {"sources": [{"domain": "a", "path": "a"}, {"domain": "b", "path": ""}]}
    },
    "explain.input_dir": {"explain": {"input_dir": ""}},
    "explain.masks_dir": {"explain": {"masks_dir": ""}},
    "evaluate_folder.path": {"evaluate_folder": {"path": ""}},
    "mask_tiles.images_dir": {"mask_tiles": {"images_dir": ""}},
    "train.models.small_cnn.weights_path": {"train": {"models": {"small_cnn": {"weights_path": ""}}}},
    "fetch.raw_dir": {"fetch": {"raw_dir": ""}},
}


def test_an_empty_folder_setting_is_refused_naming_it(tmp_path, monkeypatch):
    """Path('') is the working folder: --params="data.source_dir=''" (or `path: ''` in a file) was taken
    from the project as the project folder itself, and ingest scanned the project's files as photos."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from crack_pipeline.vision.settings import ConfigError
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    monkeypatch.chdir(project)
    conf = str(project / "conf")
    for setting, given in EMPTY_PATHS.items():
        (project / "conf/local/parameters_given.yml").write_text(yaml.safe_dump(given))
        refusal = (
            rf"^{re.escape(setting)} is empty \(''\): name a folder or file, or null where it may be unset"
        )
        for runtime_params in (given, None):  # --params, and the file alone
            loader = CONFIG_LOADER_CLASS(
                conf_source=conf, runtime_params=runtime_params, **CONFIG_LOADER_ARGS
            )
            for key in ("parameters", "catalog"):
                with pytest.raises(ConfigError, match=refusal):
                    loader[key]


def test_an_empty_data_root_is_refused_naming_the_file_that_set_it(tmp_path, monkeypatch):
    """data_root: '' made the catalog's `${globals:data_root}/02_intermediate` the root's /02_intermediate.
    The refusal said `globals.yml` wherever it was set: conf/site/globals.yml, or conf/base/globals.yml for
    an environment that sets none."""
    from crack_pipeline.vision.settings import ConfigError
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    monkeypatch.chdir(project)
    (project / "conf/site").mkdir()
    (project / "conf/site/globals.yml").write_text("data_root: ''\n")
    with pytest.raises(
        ConfigError, match=r"^data_root \(conf/site/globals.yml\) is empty \(''\): name the environment"
    ):
        environment_config("site", conf_source=project / "conf")["catalog"]
    (project / "conf/site/globals.yml").write_text("other: 1\n")
    (project / "conf/base/globals.yml").write_text("data_root: ''\n")
    with pytest.raises(ConfigError, match=r"^data_root \(conf/base/globals.yml\) is empty"):
        environment_config("site", conf_source=project / "conf")["catalog"]


def test_with_a_conf_source_elsewhere_folder_settings_still_lie_in_the_project(tmp_path, monkeypatch):
    """`kedro run --conf-source=DIR` (a deployment's configuration): Kedro takes the catalog's paths from the
    project it runs in, and so are the folder settings, not from beside DIR."""
    import shutil

    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    shutil.copytree(project / "conf", tmp_path / "deploy/conf")
    monkeypatch.chdir(project)
    loader = CONFIG_LOADER_CLASS(conf_source=str(tmp_path / "deploy/conf"), **CONFIG_LOADER_ARGS)
    assert loader["parameters"]["train"]["resume_dir"] == str(project / "data/06_models/in_progress")
    assert loader["parameters"]["fetch"]["raw_dir"] == str(project / "data/01_raw")


def test_the_catalog_reads_a_setting_from_the_parameter_files_too_and_params_first(tmp_path, monkeypatch):
    """`${runtime_params:X}` read only `--params`: `explain.model` set in conf/local/ was ignored by the
    catalog (the champion explained) while the nodes read it."""
    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    monkeypatch.chdir(project)
    local = {"explain": {"model": "resnet18", "survey": "bridge_a"}, "data": {"source_dir": "photos"}}
    (project / "conf/local/parameters_local.yml").write_text(yaml.safe_dump(local))

    def catalog(runtime_params=None):
        return CONFIG_LOADER_CLASS(
            conf_source=str(project / "conf"), runtime_params=runtime_params, **CONFIG_LOADER_ARGS
        )["catalog"]

    from_files = catalog()
    assert from_files["explain_model"]["variant"] == "resnet18"
    assert from_files["raw_images"]["path"] == str(project / "photos")
    assert from_files["survey_gallery"]["path"] == "data/07_model_output/surveys/bridge_a/gallery"
    given = catalog({"explain": {"model": "small_cnn"}})
    assert given["explain_model"]["variant"] == "small_cnn" and given["raw_images"]["path"] == str(
        project / "photos"
    )
    assert catalog({"explain": {"model": None}})["explain_model"]["variant"] is None, "--params wins"


def test_the_parameter_files_serve_the_catalog_alone_and_params_keep_kedros_guard(tmp_path, monkeypatch):
    """The files answer `${runtime_params:X}` in the catalog only, never in the parameters themselves (their
    values would depend on whether the catalog was read first), and a dataset `type` that --params chooses
    is still refused where Kedro's guard is on (its HTTP server's sessions)."""
    from omegaconf.errors import InterpolationResolutionError

    from crack_pipeline.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
    from tests.conftest import make_project

    project = make_project(tmp_path).resolve()
    monkeypatch.chdir(project)
    local = {
        "evaluate_folder": {"model": "resnet18"},
        "explain": {"model": "${runtime_params:evaluate_folder.model, null}"},
    }
    (project / "conf/local/parameters_local.yml").write_text(yaml.safe_dump(local))
    loader = CONFIG_LOADER_CLASS(conf_source=str(project / "conf"), **CONFIG_LOADER_ARGS)
    assert loader["parameters"]["explain"]["model"] is None
    assert loader["catalog"]["evaluate_folder_model"]["variant"] == "resnet18"
    assert loader["parameters"]["explain"]["model"] is None, "the same after the catalog was read"

    (project / "conf/local/catalog.yml").write_text(
        "probe:\n  type: ${runtime_params:probe_type, pandas.CSVDataset}\n"
    )
    guarded = CONFIG_LOADER_CLASS(
        conf_source=str(project / "conf"),
        runtime_params={"probe_type": "pickle.PickleDataset"},
        restrict_runtime_params_type_selection=True,
        **CONFIG_LOADER_ARGS,
    )
    with pytest.raises(InterpolationResolutionError):
        guarded["catalog"]


def test_the_projects_settings_are_read_from_outside_any_project(tmp_path, monkeypatch):
    """What an Airflow worker started in /tmp does when it builds the retrain pipeline: the variants and
    the MLflow store are this project's, not a missing `/tmp/conf`."""
    monkeypatch.chdir(PROJECT_ROOT)
    inside = variant_names(), tracking_uri("local")
    monkeypatch.chdir(tmp_path)
    assert (variant_names(), tracking_uri("local")) == inside
    assert inside[1].startswith(f"sqlite:///{PROJECT_ROOT.as_posix()}/")


def test_a_variant_named_alone_is_refused_naming_the_setting_not_taken_letter_by_letter(monkeypatch):
    """`--params=train.variants=small_cnn` (no brackets) was read as the variants 's', 'm', 'a', ..."""
    import crack_pipeline.config as config
    from crack_pipeline.vision.settings import ConfigError

    train = {"models": {"small_cnn": {}}, "variants": "small_cnn"}
    monkeypatch.setattr(config, "project_parameters", lambda: {"train": train})
    with pytest.raises(ConfigError, match=r"^train\.variants: a list of names .* not 'small_cnn'$"):
        variant_names()
    train["variants"] = ["small_cnn"]
    assert variant_names() == ["small_cnn"]
