"""A run that reads the image index an earlier run saved stops where the folders it was made of changed."""

from __future__ import annotations

import pandas as pd

from crack_pipeline.current_index import folder_changes
from tests.conftest import image_bytes, kedro, write


def test_a_split_resumed_after_photos_were_added_asks_for_the_whole_run(kedro_project, tmp_path):
    """`--pipelines=from_folder` on 2 crack photos stopped at the split ("Add images"); the photos added and
    Kedro's `--from-nodes "split_images"` followed, the split read the index made before them and stopped
    the same way."""
    photos = tmp_path / "photos"
    for i in range(8):
        write(photos, f"Negative/n{i}.png", image_bytes(seed=100 + i))
    for i in range(2):
        write(photos, f"Positive/c{i}.png", image_bytes(seed=i))
    given = (f"--params=data.source_dir={photos}", "--pipelines=from_folder")
    result = kedro(kedro_project, "run", *given, "--to-nodes=split_images")
    assert result.exit_code == 1 and "class 'crack' has 2 image group(s)" in result.output, result.output
    for i in range(2, 6):
        write(photos, f"Positive/c{i}.png", image_bytes(seed=i))
    (photos / "Negative/n7.png").unlink()

    result = kedro(kedro_project, "run", *given, "--from-nodes=split_images", "--to-nodes=split_images")
    assert result.exit_code == 1
    assert (
        f"image_index, made by an earlier run, no longer lists the files of the folder it was made of "
        f"({photos}: 4 files added (e.g. Positive/c2.png), 1 removed (e.g. Negative/n7.png)), and this run "
        "would read them as they were then: run it whole, ingest first: kedro run --pipelines=from_folder "
        "(the same --params, without --from-nodes)"
    ) in " ".join(result.output.split()), result.output
    # Nor --only-missing-outputs (ingest's outputs saved, ingest left out): the split read the old index.
    result = kedro(kedro_project, "run", *given, "--only-missing-outputs")
    assert result.exit_code == 1
    assert (
        "and this run would read them as they were then: run it whole, ingest first: kedro run "
        "--pipelines=from_folder (the same --params, without --only-missing-outputs)"
    ) in " ".join(result.output.split()), result.output
    # A pipeline without ingest is told which one makes the index.
    result = kedro(kedro_project, "run", "--pipelines=split")
    assert result.exit_code == 1
    assert "make the index again first: kedro run --pipelines=ingest (the same --params), then " in (
        " ".join(result.output.split())
    ), result.output

    result = kedro(kedro_project, "run", *given, "--to-nodes=split_images")
    assert result.exit_code == 0, result.output
    # Made of the folder as it is: resumed, the split reads it.
    result = kedro(kedro_project, "run", *given, "--from-nodes=split_images", "--to-nodes=split_images")
    assert result.exit_code == 0, result.output


def test_a_folder_gone_since_is_named(tmp_path):
    write(tmp_path / "kept", "Positive/a.png", b"x")
    index = pd.DataFrame(
        {
            "path": ["Positive/a.png", "Positive/a.png"],
            "root": [str(tmp_path / "kept"), str(tmp_path / "gone")],
        }
    )
    assert folder_changes(index) == [f"{tmp_path / 'gone'} no longer exists"]


def test_a_run_that_only_trains_on_the_split_made_before_lists_no_folder():
    """`--pipelines=train` reads the index for its split's images alone: photos added since are no reason
    to stop it (catalog None: loading the index would fail)."""
    from kedro.pipeline import node, pipeline

    from crack_pipeline.current_index import require_current_index

    trains = pipeline([node(lambda index, split: 1, ["image_index", "split_manifest"], "model", name="fit")])
    assert require_current_index(trains, None, {}) is None


def test_the_command_to_run_instead_names_each_filter_that_left_ingest_out(kedro_project):
    """`--from-inputs=image_index` leaves ingest out as `--from-nodes` does: the message said "(the same
    --params, without )", naming no option to drop."""
    from kedro.framework.startup import bootstrap_project

    from crack_pipeline.current_index import rerun_command

    bootstrap_project(kedro_project)
    given = {"pipeline_names": ["from_folder"], "from_inputs": ["image_index"], "to_outputs": ["x"]}
    assert rerun_command(given) == (
        "run it whole, ingest first: kedro run --pipelines=from_folder "
        "(the same --params, without --from-inputs)"
    )
