"""Turns three real FAQs (Perl, Python, Debian) into question/answer entries and a fixed split.

Input: the folder scripts/fetch_faq_data.sh fills (Debian's perl-doc, python3.11-doc and debian-faq
unpacked under DIR/root). Output, next to it:
  DIR/data.jsonl   one entry per line: {"id", "source", "question", "answer"}
  DIR/split.json   {"seed", "train": [ids], "validation": [ids], "test": [ids]}

Kept: entries whose heading is a question (has a "?") and whose answer has at least 10 words.
Answers often point at another entry by quoting its question ("see Section 14.3, "How do I ...?"").
A candidate answer that contains a question verbatim makes matching trivial, so every question's
text is cut out of every answer.

    /usr/bin/python3 prepare_data.py [--data-dir DIR] [--seed 7]
"""
import argparse
import glob
import gzip
import json
import os
import random
import re
import sys

MIN_ANSWER_WORDS = 10


def default_data_dir():
    return os.environ.get("OVERDRIVE_DATA_DIR") or os.path.expanduser("~/.cache/overdrive/faq")


def squash(text):
    return re.sub(r"\s+", " ", text).strip()


# ---------------------------------------------------------------- Perl (POD)

def pod_to_text(text):
    """Plain text from POD: formatting codes keep their content, links keep their label or target."""
    # Nested codes (C<< $x->{a} >>, B<I<x>>) are peeled from the inside out.
    text = re.sub(r"X<[^<>]*>", "", text)                               # index entries
    for _ in range(4):
        text = re.sub(r"[A-Z]<<+\s+(.*?)\s+>>+", r"\1", text, flags=re.S)
        text = re.sub(r"L<([^<>|]*)\|[^<>]*>", r"\1", text)
        text = re.sub(r"L<\"?([^<>\"]*)\"?>", r"\1", text)
        text = re.sub(r"[A-Z]<([^<>]*)>", r"\1", text)
    text = text.replace("E<lt>", "<").replace("E<gt>", ">")
    return text


def parse_perl(root):
    entries = []
    files = sorted(glob.glob(os.path.join(root, "usr/share/perl/*/pod/perlfaq[1-9].pod")))
    for path in files:
        name = os.path.basename(path)[:-4]
        question, body = None, []

        def flush():
            if question is not None:
                entries.append(("perl", name, question, pod_to_text("".join(body))))

        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("=head2 "):
                    flush()
                    question, body = squash(pod_to_text(line[len("=head2 "):])), []
                elif line.startswith(("=head1", "=cut")):
                    flush()
                    question, body = None, []
                elif question is not None:
                    # Keep =item labels as text, drop the other commands.
                    if line.startswith("=item"):
                        body.append(line[len("=item"):])
                    elif not line.startswith("="):
                        body.append(line)
        flush()
    return entries


# ---------------------------------------------------------------- Python (reStructuredText)

UNDERLINE = re.compile(r"^([=\-~^\"'*+#`:.])\1{2,}\s*$")


def rst_to_text(text):
    text = re.sub(r"^\.\. .*$", "", text, flags=re.M)               # directives, labels
    text = re.sub(r"`([^`<]*?)\s*<[^`>]*>`_+", r"\1", text)          # `label <url>`_
    text = re.sub(r":[\w:]+:`~?([^`]*)`", r"\1", text)               # :func:`x`
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`]*)`_*", r"\1", text)
    return text


def parse_python(root):
    entries = []
    files = sorted(glob.glob(os.path.join(root, "usr/share/doc/python3.11/html/_sources/faq/*.rst.txt")))
    for path in files:
        name = os.path.basename(path).split(".")[0]
        if name == "index":
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        # A title is a non-blank line followed by an underline at least as long.
        titles = [i for i in range(len(lines) - 1)
                  if lines[i].strip() and not UNDERLINE.match(lines[i])
                  and UNDERLINE.match(lines[i + 1]) and len(lines[i + 1].rstrip()) >= len(lines[i].rstrip())]
        for k, i in enumerate(titles):
            end = titles[k + 1] if k + 1 < len(titles) else len(lines)
            body = "\n".join(lines[i + 2:end])
            entries.append(("python", name, squash(rst_to_text(lines[i])), rst_to_text(body)))
    return entries


# ---------------------------------------------------------------- Debian (plain text)

def parse_debian(root):
    path = os.path.join(root, "usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    entries = []
    heading = re.compile(r"^\d+\.\d+(\.\d+)*\.\s+")
    i = 0
    while i < len(lines):
        if heading.match(lines[i]):
            # A heading may wrap onto following column-0 lines, up to a blank line.
            title = [lines[i]]
            i += 1
            while i < len(lines) and lines[i].strip() and not lines[i][0].isspace():
                title.append(lines[i])
                i += 1
            body = []
            # The answer is the indented block up to the next column-0 line.
            while i < len(lines) and (not lines[i].strip() or lines[i][0].isspace()):
                body.append(lines[i])
                i += 1
            question = heading.sub("", squash(" ".join(title)))
            entries.append(("debian", "debian-faq", question, "\n".join(body)))
        else:
            i += 1
    return entries


# ---------------------------------------------------------------- cleaning and split

def strip_questions(answer, questions):
    """Cuts every question (whitespace- and case-insensitively) out of an answer's text."""
    flat = squash(answer)
    low = flat.lower()
    cuts = []
    for q in questions:
        ql = q.lower()
        start = low.find(ql)
        while start != -1:
            cuts.append((start, start + len(ql)))
            start = low.find(ql, start + 1)
    if not cuts:
        return flat, 0
    out, pos = [], 0
    for a, b in sorted(cuts):
        if a > pos:
            out.append(flat[pos:a])
        pos = max(pos, b)
    out.append(flat[pos:])
    return squash(" ".join(out)), len(cuts)


def build_entries(root):
    raw = parse_perl(root) + parse_python(root) + parse_debian(root)
    kept = [(src, doc, q, a) for src, doc, q, a in raw
            if "?" in q and len(a.split()) >= MIN_ANSWER_WORDS]
    questions = sorted({q for _, _, q, _ in kept}, key=len, reverse=True)
    entries, quoted = [], 0
    for n, (src, doc, q, a) in enumerate(kept):
        answer, cuts = strip_questions(a, questions)
        quoted += cuts > 0
        if len(answer.split()) < MIN_ANSWER_WORDS:
            continue
        entries.append({"id": f"{src}-{n:04d}", "source": src, "document": doc,
                        "question": q, "answer": answer})
    for e in entries:
        assert e["question"].lower() not in e["answer"].lower(), e["id"]
    return raw, entries, quoted


def make_split(ids, seed, fractions=(0.6, 0.2, 0.2)):
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    n_train = round(len(order) * fractions[0])
    n_val = round(len(order) * fractions[1])
    return {"seed": seed, "train": order[:n_train], "validation": order[n_train:n_train + n_val],
            "test": order[n_train + n_val:]}


def write_atomic(path, text):
    # Two sweep trials may prepare the data at the same time: each writes its own file and
    # renames it into place, so a reader never sees half a file.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def prepare(data_dir, seed=7, verbose=True):
    root = os.path.join(data_dir, "root")
    if not glob.glob(os.path.join(root, "usr/share/perl/*/pod/perlfaq4.pod")):
        raise SystemExit(f"prepare_data: no FAQ sources under {root}; run scripts/fetch_faq_data.sh "
                         f"{data_dir} first (or set OVERDRIVE_DATA_DIR)")
    raw, entries, quoted = build_entries(root)
    split = make_split([e["id"] for e in entries], seed)
    write_atomic(os.path.join(data_dir, "data.jsonl"),
                 "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries))
    write_atomic(os.path.join(data_dir, "split.json"), json.dumps(split, indent=1))
    if verbose:
        by_source = {}
        for e in entries:
            by_source[e["source"]] = by_source.get(e["source"], 0) + 1
        print(f"headings={len(raw)} entries={len(entries)} "
              + " ".join(f"{k}={v}" for k, v in sorted(by_source.items()))
              + f" answers_quoting_a_question={quoted}")
        print(f"train={len(split['train'])} validation={len(split['validation'])} test={len(split['test'])}"
              f" -> {data_dir}")
    return entries, split


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=default_data_dir())
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    prepare(args.data_dir, args.seed)


if __name__ == "__main__":
    sys.exit(main())
