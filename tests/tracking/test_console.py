"""ConsoleCapture, run in real child processes so that the real sys.stdout and stderr are teed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loopline.errors import Conflict, InvalidInput
from loopline.tracking._console import ConsoleCapture

PRELUDE = """\
import io, os, sys, threading
from pathlib import Path
from loopline.tracking._console import ConsoleCapture

LOG = Path(sys.argv[1])
OUT, ERR = sys.stdout, sys.stderr
"""


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "script.py"
    path.write_text(PRELUDE + textwrap.dedent(body), encoding="utf-8")
    return path


def run(
    tmp_path: Path, body: str, *args: str, returncode: int = 0
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(script(tmp_path, body)), str(tmp_path / "console.log"), *args],
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )
    assert done.returncode == returncode, done.stderr
    return done


def log(tmp_path: Path, name: str = "console.log") -> str:
    return (tmp_path / name).read_text(encoding="utf-8")


WORK = """
def work():
    print("one")
    print("two", file=sys.stderr)
    t = threading.Thread(target=print, args=("from a thread ü",))
    t.start()
    t.join()
    sys.stdout.flush()
    sys.stdout.buffer.write("raw bytes é\\n".encode())
    sys.stderr.write("three\\n")
    print("no newline at the end", end="")

if sys.argv[2] == "capture":
    with ConsoleCapture(LOG) as capture:
        work()
    assert (sys.stdout, sys.stderr) == (OUT, ERR)
    ERR.write(f"\\n{capture.bytes_written} {capture.truncated}")
else:
    work()
"""


def test_the_terminal_is_unchanged_and_the_log_has_both_streams_in_order(tmp_path: Path) -> None:
    plain = run(tmp_path, WORK, "plain")
    captured = run(tmp_path, WORK, "capture")

    assert captured.stdout == plain.stdout
    expected = "one\ntwo\nfrom a thread ü\nraw bytes é\nthree\nno newline at the end"
    assert log(tmp_path) == expected
    size = len(expected.encode())
    assert captured.stderr == plain.stderr + f"\n{size} False"


def test_the_log_is_capped_with_a_notice_and_the_terminal_gets_everything(
    tmp_path: Path,
) -> None:
    done = run(
        tmp_path,
        """
        with ConsoleCapture(LOG, max_bytes=14) as capture:
            print("0123456789")
            print("ééé")  # the cap falls inside the second é: it is cut before it
            for i in range(1000):
                print("more", i, file=sys.stderr)
        print(capture.bytes_written, capture.truncated)
        """,
    )

    assert done.stdout == "0123456789\nééé\n13 True\n"
    assert done.stderr.count("more") == 1000
    text = log(tmp_path)
    assert text.startswith("0123456789\né\n[loopline] The console log was truncated at 14 bytes")
    assert text.count("\n") == 3  # the notice is one line, and the last
    assert "more" not in text


def test_stop_restores_the_streams_and_recording_ends(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        capture = ConsoleCapture(LOG).start()
        assert sys.stdout is not OUT
        print("during")
        capture.stop()
        capture.stop()  # twice is fine
        assert (sys.stdout, sys.stderr) == (OUT, ERR)
        print("after")
        """,
    )

    assert done.stdout == "during\nafter\n"
    assert log(tmp_path) == "during\n"


def test_an_exception_in_the_block_restores_flushes_and_is_logged(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        try:
            with ConsoleCapture(LOG):
                print("before")
                raise ValueError("boom")
        except ValueError:
            assert (sys.stdout, sys.stderr) == (OUT, ERR)
            print("restored")
        """,
    )

    assert done.stdout == "before\nrestored\n"
    text = log(tmp_path)
    assert text.startswith("before\nTraceback (most recent call last):\n")
    assert text.endswith("ValueError: boom\n")


def test_an_uncaught_exception_reaches_the_terminal_once_and_the_log_once(
    tmp_path: Path,
) -> None:
    done = run(
        tmp_path,
        """
        with ConsoleCapture(LOG):
            print("before")
            raise ValueError("boom")
        """,
        returncode=1,
    )

    assert done.stderr.count("ValueError: boom") == 1
    assert log(tmp_path).count("ValueError: boom") == 1


def test_a_capture_never_stopped_is_flushed_at_exit(tmp_path: Path) -> None:
    run(
        tmp_path,
        """
        ConsoleCapture(LOG).start()
        print("the last words")
        """,
    )

    assert log(tmp_path) == "the last words\n"


def test_streams_that_are_none_or_have_no_file_descriptor(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        sys.stdout = sys.stderr = None  # as under pythonw
        with ConsoleCapture(LOG) as capture:
            print("to nowhere")
            assert not sys.stdout.isatty()
            try:
                sys.stdout.fileno()
            except io.UnsupportedOperation:
                pass
            else:
                raise AssertionError("fileno() without a file descriptor")
        assert sys.stdout is None and sys.stderr is None

        sys.stdout = memory = io.StringIO()
        with ConsoleCapture(LOG):
            print("to memory")
            assert not hasattr(sys.stdout, "buffer")
        assert sys.stdout is memory
        OUT.write(memory.getvalue())
        """,
    )

    assert done.stdout == "to memory\n"
    assert log(tmp_path) == "to nowhere\nto memory\n"


def test_nested_captures_each_get_their_part(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        outer = ConsoleCapture(LOG.with_name("outer.log")).start()
        print("a")
        with ConsoleCapture(LOG.with_name("inner.log")):
            print("b")
        print("c")
        outer.stop()
        assert (sys.stdout, sys.stderr) == (OUT, ERR)
        print("d")
        """,
    )

    assert done.stdout == "a\nb\nc\nd\n"
    assert log(tmp_path, "outer.log") == "a\nb\nc\n"
    assert log(tmp_path, "inner.log") == "b\n"


def test_captures_stopped_out_of_order_neither_lose_nor_duplicate(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        first = ConsoleCapture(LOG.with_name("first.log")).start()
        print("a")
        second = ConsoleCapture(LOG.with_name("second.log")).start()
        print("b")
        first.stop()  # not the last started: it stops recording, the streams stay wrapped
        print("c")
        second.stop()
        assert (sys.stdout, sys.stderr) == (OUT, ERR)
        print("d")
        """,
    )

    assert done.stdout == "a\nb\nc\nd\n"
    assert log(tmp_path, "first.log") == "a\nb\n"
    assert log(tmp_path, "second.log") == "b\nc\n"


def test_streams_replaced_during_the_capture_are_restored(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        with ConsoleCapture(LOG):
            print("a")
            sys.stdout = io.StringIO()  # and never put back
            print("into the StringIO")
        assert sys.stdout is OUT
        print("restored")
        """,
    )

    assert done.stdout == "a\nrestored\n"
    assert log(tmp_path) == "a\n"


def test_prints_from_many_threads_are_all_logged_whole(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        def chatter(n):
            for i in range(2000):
                sys.stdout.write(f"thread {n} line {i}\\n")  # one write: one whole line

        with ConsoleCapture(LOG):
            threads = [threading.Thread(target=chatter, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        """,
    )

    expected = sorted(f"thread {n} line {i}" for n in range(8) for i in range(2000))
    assert sorted(log(tmp_path).splitlines()) == expected
    assert sorted(done.stdout.splitlines()) == expected


def test_a_live_view_can_follow_the_log_while_the_program_runs(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        """
        with ConsoleCapture(LOG):
            print("epoch 1")
            sys.stdin.readline()  # wait until the test has seen the line in the file
            print("epoch 2")
        """,
    )
    log_path = tmp_path / "console.log"
    with subprocess.Popen(
        [sys.executable, str(path), str(log_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            deadline = time.monotonic() + 30  # a generous bound: the file is flushed twice a second
            while time.monotonic() < deadline:
                if log_path.exists() and log_path.read_text() == "epoch 1\n":
                    break
                time.sleep(0.05)
            assert log_path.read_text() == "epoch 1\n"
            assert proc.poll() is None  # still running: the line was seen live
        finally:
            assert proc.stdin is not None
            proc.stdin.write("\n")
            proc.stdin.close()
    assert proc.returncode == 0
    assert log_path.read_text() == "epoch 1\nepoch 2\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_prints_to_the_terminal_only(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        with ConsoleCapture(LOG):
            print("parent before")
            pid = os.fork()
            if pid == 0:
                print("child")
                sys.stdout.flush()
                os._exit(0)
            os.waitpid(pid, 0)
            print("parent after")
        """,
    )

    assert sorted(done.stdout.splitlines()) == ["child", "parent after", "parent before"]
    assert log(tmp_path) == "parent before\nparent after\n"


def test_a_running_capture_cannot_start_again(tmp_path: Path) -> None:
    capture = ConsoleCapture(tmp_path / "console.log").start()
    try:
        with pytest.raises(Conflict, match="running already"):
            capture.start()
    finally:
        capture.stop()
    assert not capture.active


def test_a_negative_cap_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="max_bytes"):
        ConsoleCapture(tmp_path / "console.log", max_bytes=-1)


def test_restarting_appends_and_the_cap_covers_the_whole_file(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        capture = ConsoleCapture(LOG, max_bytes=8)
        with capture:
            print("12345")
        with capture:
            print("67890")
        print(capture.bytes_written, capture.truncated)
        """,
    )

    assert done.stdout.endswith("8 True\n")
    assert log(tmp_path).startswith("12345\n67\n[loopline] The console log was truncated")


def test_logging_set_up_before_the_capture_is_captured(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        handler = logging.getLogger().handlers[0]
        with ConsoleCapture(LOG):
            logging.info("loss went down")
        assert handler.stream is ERR
        logging.info("after the run")
        """,
    )

    assert done.stderr == "INFO loss went down\nINFO after the run\n"
    assert log(tmp_path) == "INFO loss went down\n"
