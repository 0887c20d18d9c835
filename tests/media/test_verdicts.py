"""BinaryVerdicts: an answer about a binary is asked once, and again when the binary or the question
changes."""

from __future__ import annotations

import os

from fenta.media.verdicts import BinaryVerdicts


def _binary(tmp_path):
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    return str(exe)


def _asker(answer):
    calls = []

    def ask():
        calls.append(1)
        return dict(answer)

    return ask, calls


def test_an_answer_is_asked_once_and_then_read_from_the_file(tmp_path):
    exe = _binary(tmp_path)
    ask, calls = _asker({"ok": True})
    file = tmp_path / "cache" / "v.json"
    assert BinaryVerdicts(file, "t1").get(exe, "nvenc", ask) == {"ok": True}
    assert BinaryVerdicts(file, "t1").get(exe, "nvenc", ask) == {"ok": True}
    assert len(calls) == 1


def test_a_changed_binary_is_asked_again(tmp_path):
    exe = _binary(tmp_path)
    file = tmp_path / "v.json"
    ask, calls = _asker({"ok": False})
    BinaryVerdicts(file, "t1").get(exe, "check", ask)
    st = os.stat(exe)
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    BinaryVerdicts(file, "t1").get(exe, "check", ask)
    assert len(calls) == 2


def test_a_changed_question_table_is_asked_again(tmp_path):
    exe = _binary(tmp_path)
    file = tmp_path / "v.json"
    ask, calls = _asker({"ok": True})
    BinaryVerdicts(file, "t1").get(exe, "check", ask)
    BinaryVerdicts(file, "t2").get(exe, "check", ask)
    assert len(calls) == 2


def test_answers_for_different_names_are_kept_side_by_side(tmp_path):
    exe = _binary(tmp_path)
    file = tmp_path / "v.json"
    verdicts = BinaryVerdicts(file, "t1")
    verdicts.get(exe, "a", lambda: {"ok": True})
    verdicts.get(exe, "b", lambda: {"ok": False})
    ask, calls = _asker({"ok": None})
    assert verdicts.get(exe, "a", ask) == {"ok": True}
    assert verdicts.get(exe, "b", ask) == {"ok": False}
    assert calls == []


def test_an_unreadable_file_counts_as_empty_and_is_replaced(tmp_path):
    exe = _binary(tmp_path)
    file = tmp_path / "v.json"
    file.write_text("{not json")
    ask, calls = _asker({"ok": True})
    assert BinaryVerdicts(file, "t1").get(exe, "check", ask) == {"ok": True}
    assert BinaryVerdicts(file, "t1").get(exe, "check", ask) == {"ok": True}
    assert len(calls) == 1


def test_a_missing_binary_is_asked_every_time(tmp_path):
    file = tmp_path / "v.json"
    ask, calls = _asker({"ok": False})
    BinaryVerdicts(file, "t1").get(str(tmp_path / "absent"), "check", ask)
    BinaryVerdicts(file, "t1").get(str(tmp_path / "absent"), "check", ask)
    assert len(calls) == 2 and not file.exists()
