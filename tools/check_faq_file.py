"""Quick structural + citation check of one FAQ YAML file (helper for authors).

Usage: python3 tools/check_faq_file.py knowledge_base/faq/labour.yml
The product's own validator is `legal-triage kb validate`; this script only needs PyYAML.
"""
import json, pathlib, re, sys
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAWS = {}
for f in (ROOT / "knowledge_base" / "laws").glob("*.json"):
    d = json.loads(f.read_text(encoding="utf-8"))
    LAWS[d["title"]] = {a["number"]: a["text"] for a in d["articles"]}
FORBIDDEN = {"中华人民共和国律师法"}
PHONE = re.compile(r"(?<!\d)(?:0\d{2,3}-?\d{7,8}|1[3-9]\d{9})(?!\d)")

errors = []
for path in sys.argv[1:]:
    entries = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    for i, e in enumerate(entries):
        where = f"{path}[{i}] {e.get('id')}"
        for k in ("id", "topic", "question", "paraphrases", "answer", "citations", "reviewed_on"):
            if k not in e:
                errors.append(f"{where}: missing {k}")
        if len(e.get("paraphrases", [])) < 6:
            errors.append(f"{where}: needs >= 6 paraphrases")
        if PHONE.search(e.get("answer", "")):
            errors.append(f"{where}: answer contains a local-looking phone number")
        for c in e.get("citations", []):
            law, art = c.get("law"), c.get("article")
            if law in FORBIDDEN:
                errors.append(f"{where}: do not cite {law}")
            elif law not in LAWS:
                errors.append(f"{where}: unknown law {law!r}")
            elif art not in LAWS[law]:
                errors.append(f"{where}: {law} has no article {art}")
            elif c.get("quote") and c["quote"] not in LAWS[law][art]:
                errors.append(f"{where}: quote not found verbatim in {law} 第{art}条")
print("\n".join(errors) or f"OK: {sum(len(yaml.safe_load(open(p, encoding='utf-8'))) for p in sys.argv[1:])} entries")
sys.exit(1 if errors else 0)
