"""Another release of python-worker, built in a scratch folder, for the upgrade tests.

`newer_functions` makes statefun-functions/ as its next release could ship it, the
way a user makes that release: a field added to two state messages in
protobuf/entities.proto, the protobuf compiler run as `make proto` runs it, and
main.py changed to fill the fields. The launcher runs it with
`local/workshop.py up --functions FOLDER`.
"""

import pathlib
import shutil
import subprocess

from local_workshop import ROOT

PROTOC_PYTHON = ROOT / ".venv-protoc" / "bin" / "python"  # made by `make proto`

# Each change: the text it must find, and what replaces it. A change whose anchor is
# gone (main.py or the proto was edited) fails loudly instead of building the old code.
PROTO_CHANGES = {
    "message ReportedFraud {\n  int32 count = 1;\n": "message ReportedFraud {\n  int32 count = 1;\n"
    "  int32 confirmed_ever = 2;  // new: confirmations counted, also after they left the window\n",
    "message CustomThreshold {\n  int32 threshold = 1;\n  string account = 2;\n": "message CustomThreshold {\n  int32 threshold = 1;\n  string account = 2;\n"
    "  google.protobuf.Timestamp updated_at = 5;  // new: when the account set it\n",
}
# main.py: a statement of today's main.py, and the statements the newer release has in
# its place (at the same indentation, so the edit survives reformatting).
MAIN_CHANGES = {
    "count.count += 1": ["count.count += 1", "count.confirmed_ever += 1"],
    'log.info("%s: fraud confirmed, %d in the window", address_of(context), count.count)': [
        'log.info("%s: fraud confirmed, %d in the window, %d ever", address_of(context), count.count, '
        "count.confirmed_ever)"
    ],
    "context.storage.threshold = update  # as sent, with any field a newer producer added": [
        "update.updated_at.GetCurrentTime()",
        "context.storage.threshold = update",
    ],
}


def newer_functions(folder: pathlib.Path) -> pathlib.Path:
    """A copy of statefun-functions/ whose counter and threshold state carry one more field each."""
    functions = folder / "statefun-functions-newer"
    shutil.copytree(ROOT / "statefun-functions", functions, ignore=shutil.ignore_patterns("__pycache__"))
    proto = folder / "protobuf" / "entities.proto"
    proto.parent.mkdir()
    proto.write_text(changed((ROOT / "protobuf" / "entities.proto").read_text(), PROTO_CHANGES))
    assert PROTOC_PYTHON.exists(), "the protobuf compiler is missing: run `make proto` first"
    subprocess.run(
        [
            str(PROTOC_PYTHON),
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(proto.parent),
            f"--python_out={functions}",
            proto.name,
        ],
        check=True,
    )
    main = functions / "main.py"
    main.write_text(changed_statements(main.read_text(), MAIN_CHANGES))
    return functions


def changed(text: str, changes: dict[str, str]) -> str:
    for anchor, replacement in changes.items():
        assert text.count(anchor) == 1, f"the newer version cannot be built: {anchor!r} is not in the source once"
        text = text.replace(anchor, replacement)
    return text


def changed_statements(source: str, changes: dict[str, list[str]]) -> str:
    lines = source.splitlines()
    for statement, replacement in changes.items():
        found = [number for number, line in enumerate(lines) if line.strip() == statement]
        assert len(found) == 1, f"the newer version cannot be built: {statement!r} is not in main.py once"
        indent = lines[found[0]][: len(lines[found[0]]) - len(lines[found[0]].lstrip())]
        lines[found[0] : found[0] + 1] = [indent + line for line in replacement]
    return "\n".join(lines) + "\n"
