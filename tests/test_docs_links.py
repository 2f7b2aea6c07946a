"""Every relative link and #anchor in README.md and docs/ leads somewhere: checked offline.

Anchors are GitHub's: the heading's text in lower case, punctuation but '-' and '_' dropped,
each space a '-'; a heading seen before gets -1, -2, ... Links to http(s) and mail are not
followed (no network here), nor are links inside code.
"""

import pathlib
import re
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
# [text](target) and ![alt](target); the text may hold one level of brackets and span lines.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def without_code_blocks(text: str) -> list[str]:
    """The lines outside fenced code blocks (those inside become empty, so line numbers hold)."""
    lines, fence = [], None
    for line in text.split("\n"):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines.append("")
        else:
            lines.append(line)
    return lines


def heading_text(markdown: str) -> str:
    """What GitHub shows of a heading: links as their text, no code ticks or emphasis marks."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"<[^>]+>", "", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading (without the -1, -2 of a repeated one)."""
    text = heading_text(heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = without_code_blocks(text)
    for number, line in enumerate(lines):
        atx = ATX_HEADING.match(line)
        previous = lines[number - 1] if number else ""
        if atx:
            heading = atx.group(2)
        elif (
            SETEXT_UNDERLINE.match(line)
            and previous.strip()
            and not ATX_HEADING.match(previous)
            and not previous.lstrip().startswith(("|", "-", "*", ">"))
        ):
            heading = previous
        else:
            continue
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def link_targets(text: str) -> list[str]:
    """Every link's target, in order, outside code blocks and code spans."""
    prose = "\n".join(without_code_blocks(text))
    prose = CODE_SPAN.sub("code", prose)
    return [m.group(1) for m in INLINE_LINK.finditer(prose)] + REFERENCE_DEFINITION.findall(prose)


def broken_links(page: pathlib.Path, text: str | None = None) -> list[str]:
    """The links of a Markdown page that lead nowhere: a missing file or folder, or an anchor
    that is not a heading of the page it points into. `text` stands in for the page's own."""
    text = page.read_text() if text is None else text
    broken = []
    for target in link_targets(text):
        if not target or SCHEME.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / urllib.parse.unquote(path_part)).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif fragment and destination.suffix == ".md" and destination.is_file():
            own = text if destination == page else destination.read_text()
            if urllib.parse.unquote(fragment).lower() not in anchors(own):
                broken.append(f"{page.name}: {target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_of_the_documentation_resolves():
    assert len(PAGES) > 3, PAGES  # README.md, BENCHMARKS.md and docs/
    broken = [problem for page in PAGES for problem in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_the_readme_leads_to_every_page_of_docs_and_to_the_benchmarks():
    readme = set(link_targets((ROOT / "README.md").read_text()))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages and pages <= readme, pages - readme
    assert "BENCHMARKS.md" in readme
    assert "../BENCHMARKS.md" in link_targets((ROOT / "docs" / "performance.md").read_text())


def test_the_readme_is_the_attendees_path_and_stays_short():
    """The reference lives in docs/; the guide is the exercises, each command where it is needed."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 400, f"README.md has {len(lines)} lines: move reference material to docs/"


def test_the_readme_states_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci
    assert "`make test`" in (ROOT / "README.md").read_text()


def test_github_anchors():
    assert github_anchor("Alerts at once, or exactly once: `ALERT_DELIVERY`") == (
        "alerts-at-once-or-exactly-once-alert_delivery"
    )
    assert github_anchor("Exercise (advanced): per-account thresholds") == "exercise-advanced-per-account-thresholds"
    assert github_anchor("Several python-workers behind one address") == "several-python-workers-behind-one-address"
    assert github_anchor("[Linked](somewhere.md) heading") == "linked-heading"
    assert anchors("# Tests\n\n## Tests\n\n### Tests\n") == {"tests", "tests-1", "tests-2"}
    assert anchors("Title\n=====\n\nSection\n---\n") == {"title", "section"}
    assert anchors("```bash\n# not a heading\n```\n# A heading\n") == {"a-heading"}


def test_the_checker_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "picture.svg").write_text("<svg/>")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A section: `ON`\n")
    readme = tmp_path / "README.md"
    text = """# Title

## Part one

Good: [here](#part-one), [there](docs/other.md#a-section-on), [page](docs/other.md),
![picture](images/picture.svg), [folder](docs/), [web](https://example.com/#nothing),
[a `code` text
over two lines](#title).

Broken: [gone](docs/missing.md), [no heading](#part-two), [elsewhere](docs/other.md#nowhere),
![lost](images/lost.png).

```bash
echo "[in code](not-checked.md)"
```

And `[in a code span](not-checked-either.md)`.

[ref]: docs/absent.md
"""
    readme.write_text(text)
    assert broken_links(readme) == [
        "README.md: docs/missing.md (no such file)",
        "README.md: #part-two (no such heading)",
        "README.md: docs/other.md#nowhere (no such heading)",
        "README.md: images/lost.png (no such file)",
        "README.md: docs/absent.md (no such file)",
    ]
    # The same page with the mistakes mended passes.
    mended = text.split("Broken:")[0] + "\n[ref]: docs/other.md\n"
    assert broken_links(readme, mended) == []
