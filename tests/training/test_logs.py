"""StepLog: one row per step, whatever an earlier (killed) run left."""

from interanimate.training.logs import StepLog


def test_rows_after_the_checkpoint_are_dropped_and_a_step_is_never_there_twice(tmp_path):
    log = StepLog(tmp_path, "train")
    for step in (1, 2, 3):
        log.append({"step": step, "loss": 0.5 / step})
    assert StepLog(tmp_path, "train").steps == [1, 2, 3]
    resumed = StepLog(tmp_path, "train")
    resumed.truncate(2)  # resumed from the checkpoint of step 2
    assert StepLog(tmp_path, "train").steps == [1, 2]
    resumed.append({"step": 3, "loss": 0.125})
    resumed.append({"step": 3, "loss": 0.25})  # the same step again replaces the row
    lines = (tmp_path / "train.csv").read_text().splitlines()
    assert lines == ["step,loss", "1,0.5", "2,0.25", "3,0.25"]
    assert not [p for p in tmp_path.iterdir() if p.name != "train.csv"]  # no temporary file left


def test_torn_and_repeated_rows_of_an_older_writer_are_dropped(tmp_path):
    rows = ["step,loss,lr", "1,0.5,0.1", "2,0.4,0.1", "2,0.3,0.1", "3,0.2", "4,0.1,0.1,9", "5,0."]
    (tmp_path / "train.csv").write_bytes("\r\n".join(rows).encode())
    log = StepLog(tmp_path, "train")
    assert log.steps == [1, 2] and log.rows[1]["loss"] == "0.3"  # 3, 4, 5 torn; the last row of step 2 stands
    log.truncate(10)
    assert (tmp_path / "train.csv").read_bytes() == b"step,loss,lr\r\n1,0.5,0.1\r\n2,0.3,0.1\r\n"
