"""Every relative link in the Markdown a collection tarball ships must resolve inside it.

Usage: python tarball_links.py ARTIFACT.tar.gz

A link such as ``[x](../benchmarks/README.md)`` works on GitHub and breaks on Galaxy and in an
installed collection when ``benchmarks/`` is in galaxy.yml's ``build_ignore``. This reads each
``*.md`` member of the tarball, finds inline links, images and reference definitions outside code
(fenced blocks and inline code are skipped), and checks that each relative target (``#anchor``
dropped) is a member of the tarball, and that an anchor into a Markdown member names one of its
headings (GitHub's slugs). Absolute URLs (``https:``, ``mailto:``...) are not followed.
Prints one line per broken link (file:line: target: why) and exits 1 if there are any.
"""

from __future__ import annotations

import posixpath
import re
import sys
import tarfile

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_lines(text, blank_code=True):
    """(line number, line) outside fenced code blocks, inline code blanked unless told not to."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, INLINE_CODE.sub("", line) if blank_code else line


def anchors(text):
    """Every anchor a Markdown text defines through its headings (duplicates get -1, -2...)."""
    found = set()
    seen = {}
    for _number, line in prose_lines(text, blank_code=False):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else "%s-%d" % (base, count))
    return found


def check(artifact):
    """The broken links of the artifact, as printable lines."""
    with tarfile.open(artifact) as tar:
        members = {}
        for member in tar.getmembers():
            members[posixpath.normpath(member.name)] = member
        texts = {}
        for name, member in members.items():
            if name.endswith(".md") and member.isfile():
                texts[name] = tar.extractfile(member).read().decode("utf-8")
    broken = []
    for name in sorted(texts):
        for number, line in prose_lines(texts[name]):
            targets = INLINE.findall(line)
            reference = REFERENCE.match(line)
            if reference:
                targets.append(reference.group(1))
            for target in targets:
                problem = judge(name, target, members, texts)
                if problem:
                    broken.append("%s:%d: %s: %s" % (name, number, target, problem))
    return broken


def judge(name, target, members, texts):
    """Why a link target does not resolve inside the tarball, or None."""
    if SCHEME.match(target) or target.startswith("//"):
        return None
    path, _sep, anchor = target.partition("#")
    if path:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), path))
        if resolved.startswith("../") or resolved == "..":
            return "points outside the collection"
        if resolved not in members:
            return "%s is not in the tarball" % resolved
    else:
        resolved = name
    if anchor and resolved in texts and anchor not in anchors(texts[resolved]):
        return "%s has no heading with the anchor #%s" % (resolved, anchor)
    return None


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s ARTIFACT.tar.gz\n" % argv[0])
        return 2
    broken = check(argv[1])
    for line in broken:
        print(line)
    if broken:
        print("%d relative link(s) in shipped Markdown do not resolve inside %s"
              % (len(broken), argv[1]))
        return 1
    print("every relative link in the shipped Markdown resolves inside the tarball")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
