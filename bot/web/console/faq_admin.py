"""The publicity team's FAQ pages under ``/console/faq``: list and search, edit into drafts, send for
review, approve and publish (knowledge-base YAML + a new index), try a question, index versions with
a diff and rollback, and unanswered questions grouped by meaning into new drafts.

A draft is ``kb.entry_to_dict`` as JSON in ``faq_drafts``; statuses: draft → review → published, or
rejected (with a note; the author may edit and send it again). Approving sets "publishing" and
builds in a worker thread, so the app stays responsive; the draft page reloads until it is done.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import insert, select, update

from bot.domain import TOPICS, FaqEntry
from bot.errors import LegalTriageError, NotFoundError
from bot.knowledge import kb, kb_io
from bot.knowledge.laws import StatuteLibrary, chinese_number
from bot.retrieval import faq as retrieval
from bot.services.accounts import Session
from bot.services.clustering import cluster_questions
from bot.storage.sql import faq_drafts
from bot.web.console.pages import redirect, require, require_form
from bot.web.staff import MAX_ID, RowId, row_id

logger = logging.getLogger(__name__)
PERMISSION = "faq"
Publicity = Annotated[Session, Depends(require(PERMISSION))]
PublicityForm = Annotated[Session, Depends(require_form(PERMISSION))]
STATUS_NAMES = {
    "draft": "草稿",
    "review": "待审核",
    "publishing": "发布中",
    "published": "已发布",
    "rejected": "已退回",
}
FIELDS = ("id", "topic", "subtopic", "question", "paraphrases", "answer", "citations", "reviewed_on", "facts")
DECISIONS = {"confident": "直接回答", "suggest": "给出“您是想问”选项", "none": "答不上来"}


# ---- problems in Chinese -----------------------------------------------------------------------
_ZH = (
    (r"^missing field$", "必填"),
    (r"^must be a list$", "格式不对"),
    (r"^each citation needs", "每行一条：法律名称 | 条号（数字） | 原文引文（可省）"),
    (r"^must be a date", "日期格式应为 年-月-日，如 2026-11-26"),
    (r"^use lowercase", "只能用小写字母、数字和“-”，3 个字符以上"),
    (r"is not one of the 20 topics", "请从 20 个领域中选择"),
    (r"^needs at least (\d+), has (\d+)", r"至少需要 \1 种问法，现有 \2 种"),
    (
        r"^needs at least (\d+) long narrative ones \((\d+)-(\d+) characters\), has (\d+)",
        r"至少需要 \1 条 \2–\3 字、像群众那样先讲经过再提问的长问法，现有 \4 条",
    ),
    (
        r"must be a mapping with keys among",
        "追问要点每行一条，写成“名称: 内容”，名称只能是 materials、where、cost、time_limit",
    ),
    (r"^(\w+) too long \((\d+) > (\d+)", r"追问要点 \1 太长（\2 字，最多 \3 字）"),
    (r"not in force yet", "这一文本尚未施行，不能作为现行规定引用"),
    (r"uncertain status", "效力待确认的文本只能与一部现行有效的法律一并引用"),
    (r"not in services.yml", "答案提到的机构不在服务目录里：请用服务目录中的机构名称，或先在服务目录中登记"),
    (r"^repeats a text", "问法有重复（含与标准问题重复）"),
    (r"^is empty", "不能为空"),
    (r"^too long \((\d+) > (\d+)", r"太长（\1 字，最多 \2 字）"),
    (r"phone number", "含有本地电话号码：请改用服务目录，不要写进答案"),
    (r"street address", "含有街道地址：请改用服务目录"),
    (r"opening hours", "含有办公时间：请改用服务目录"),
    (r"at least one citation", "至少要引用一条法条"),
    (r"is outdated here", "这部法律的本地文本已过时，不能引用"),
    (r"unknown law title '(.+)'", r"没有这部法律：\1（请用“选法条”查找）"),
    (r"^(.+) has no article (\d+)(之.)?$", r"\1 没有第 \2 条\3"),
    (r"quote not found verbatim in (.+)$", r"引文与 \1 原文不一致"),
)


def problem_zh(message: str) -> str:
    for pattern, text in _ZH:
        match = re.search(pattern, message)
        if match:
            return match.expand(text)
    return message


# ---- forms -------------------------------------------------------------------------------------
def form_of(entry: dict) -> dict[str, str]:
    """A raw entry (``kb.entry_to_dict``) as the edit form's strings."""
    row = kb_io.to_row(kb.entry_from_dict(entry)) if not kb.schema_problems(entry, "form") else {}
    return {name: row.get(name, "") for name in FIELDS}


def raw_of(form: dict[str, str]) -> dict:
    """The edit form back to a raw entry (paraphrases and citations one per line)."""
    row = {name: (form.get(name) or "").replace("\r\n", "\n") for name in FIELDS}
    raw = kb_io.from_row(row)
    raw.setdefault("paraphrases", [])
    raw.setdefault("citations", [])
    return raw


def check_form(
    form: dict[str, str], library: StatuteLibrary, known_ids: set[str], editing: str | None
) -> tuple[dict | None, dict[str, list[str]]]:
    """(entry as data, or None) and the problems by field, in Chinese."""
    raw = raw_of(form)
    problems: dict[str, list[str]] = {}
    found = kb.schema_problems(raw, "form")
    if not found:
        entry = kb.entry_from_dict(raw)
        found = kb.content_problems(entry, library)
    for p in found:
        problems.setdefault(p.field if p.field in FIELDS else "id", []).append(problem_zh(p.message))
    entry_id = str(raw.get("id", ""))
    if entry_id and entry_id != editing and entry_id in known_ids:
        problems.setdefault("id", []).append("这个编号已被另一条问答使用")
    if problems:
        return None, problems
    return kb.entry_to_dict(kb.entry_from_dict(raw)), {}


# ---- publishing ----------------------------------------------------------------------------------
def publish_entry(settings, data: dict, embedder) -> Path:
    """Write one entry into the knowledge base YAML and build and publish a new index."""
    library = StatuteLibrary.load(settings.laws_dir)
    faq_dir = settings.knowledge_base_dir / "faq"
    payload = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
    result = kb_io.import_entries(payload, "jsonl", faq_dir, library)
    if result.problems:
        raise LegalTriageError("；".join(problem_zh(p.message) for p in result.problems[:5]))
    knowledge = kb.load(faq_dir, library)
    return retrieval.FaqIndex.build(knowledge, embedder).save(settings.faq_index_dir)


# ---- versions ------------------------------------------------------------------------------------
def _version_entries(folder: Path) -> dict[str, dict]:
    path = folder / "entries.jsonl"
    if not path.exists():
        return {}
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["id"]: row for row in rows}


def _lines(value) -> list[str]:
    if isinstance(value, list):
        return [" | ".join(str(v) for v in item.values()) if isinstance(item, dict) else str(item) for item in value]
    return str(value or "").splitlines() or [""]


def diff_versions(root: Path, old: str, new: str) -> dict:
    """What changed from ``old`` to ``new``: added and removed entries, changed fields with line diffs."""
    before, after = _version_entries(root / old), _version_entries(root / new)
    changed = []
    for entry_id in sorted(set(before) & set(after)):
        a, b = before[entry_id], after[entry_id]
        if a == b:
            continue
        fields = []
        for name in FIELDS:
            if a.get(name) != b.get(name):
                lines = [
                    line
                    for line in difflib.unified_diff(_lines(a.get(name)), _lines(b.get(name)), lineterm="", n=1)
                    if not line.startswith(("---", "+++", "@@"))
                ]
                fields.append({"name": name, "lines": lines})
        changed.append({"id": entry_id, "question": b.get("question", ""), "fields": fields})
    return {
        "added": [after[i] for i in sorted(set(after) - set(before))],
        "removed": [before[i] for i in sorted(set(before) - set(after))],
        "changed": changed,
    }


def version_info(root: Path, version: str) -> dict:
    try:
        manifest = json.loads((root / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    stamp = manifest.get("built_at", "")
    try:
        built = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC).astimezone()
        built_text = built.strftime("%Y-%m-%d %H:%M")
    except ValueError:
        built_text = stamp
    return {
        "name": version,
        "built": built_text,
        "entries": manifest.get("entries"),
        "model": manifest.get("embedding_model", ""),
    }


# ---- the router ----------------------------------------------------------------------------------
def recover_publishing(engine, audit) -> None:
    """At start-up: drafts left "publishing" by a process that stopped mid-publish go back to "review"
    (publishing runs in a thread of the process that approved, so none of this process's is running yet)."""
    with engine.begin() as conn:
        stuck = conn.execute(select(faq_drafts.c.id, faq_drafts.c.entry_id).where(faq_drafts.c.status == "publishing"))
        stuck = stuck.all()
        for draft_id, _ in stuck:
            conn.execute(
                update(faq_drafts)
                .where(faq_drafts.c.id == draft_id, faq_drafts.c.status == "publishing")
                .values(status="review", note="发布被中断（服务重启），请重新审核发布", updated_at=dt.datetime.now())
            )
    for _, entry_id in stuck:
        audit("system", "faq_publish_recovered", f"faq:{entry_id}", None)


def router(console) -> APIRouter:
    """The FAQ pages. ``console.embedder_factory()`` gives the embedding model (loaded lazily, once)."""
    r = APIRouter(prefix="/console/faq")
    settings = console.settings
    if settings is None:
        from bot.settings import get_settings

        settings = get_settings()
    engine = console.engine or console.accounts._engine
    page, audit = console.page, console.accounts.audit
    state: dict = {}
    lock = threading.Lock()
    publish_lock = threading.Lock()  # one knowledge-base write and index build at a time

    def embedder():
        with lock:
            if "embedder" not in state:
                if console.embedder_factory is None:
                    raise LegalTriageError("no embedding model configured for the console")
                state["embedder"] = console.embedder_factory()
            return state["embedder"]

    def library() -> StatuteLibrary:
        with lock:
            if "library" not in state:
                state["library"] = StatuteLibrary.load(settings.laws_dir)
            return state["library"]

    def entries() -> list[FaqEntry]:
        knowledge, _ = kb.validate(settings.knowledge_base_dir / "faq", library())
        return knowledge.entries

    def retriever() -> retrieval.FaqRetriever:
        with lock:
            if "retriever" not in state:
                state["retriever"] = retrieval.FaqRetriever(settings.faq_index_dir, embedder_lazy)
            return state["retriever"]

    class _Lazy:  # the retriever asks for the model's name before it embeds anything
        @property
        def name(self):
            return embedder().name

        @property
        def dim(self):
            return embedder().dim

        def encode(self, texts, kind="query"):
            return embedder().encode(texts, kind=kind)

    embedder_lazy = _Lazy()

    def draft(draft_id: int) -> dict:
        with engine.connect() as conn:
            row = conn.execute(select(faq_drafts).where(faq_drafts.c.id == draft_id)).mappings().first()
        if row is None:
            raise HTTPException(404, "没有这份草稿")
        out = dict(row)
        out["entry"] = json.loads(row["data"])
        return out

    def drafts(limit: int = 100) -> list[dict]:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(faq_drafts).order_by(faq_drafts.c.updated_at.desc(), faq_drafts.c.id.desc()).limit(limit)
                )
                .mappings()
                .all()
            )
        return [dict(r) | {"entry": json.loads(r["data"])} for r in rows]

    console.on_start.append(lambda: recover_publishing(engine, audit))

    def set_status(draft_id: int, **values) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(faq_drafts).where(faq_drafts.c.id == draft_id).values(updated_at=dt.datetime.now(), **values)
            )

    def may_review(session, d: dict) -> bool:
        return d["status"] == "review" and (d["author"] != session.user.username or session.user.can("users"))

    # ---- list ----------------------------------------------------------------------------------
    @r.get("", name="faq_list")
    def faq_list(request: Request, session: Publicity, q: str = "", topic: str = "") -> Response:
        words = q.strip()
        rows = [
            e
            for e in entries()
            if (not topic or e.topic == topic)
            and (not words or words in e.question or words in e.answer or any(words in p for p in e.paraphrases))
        ]
        return page(
            request,
            "faq_list.html",
            session=session,
            rows=rows,
            q=q,
            topic=topic,
            topics=TOPICS,
            drafts=drafts(),
            statuses=STATUS_NAMES,
        )

    # ---- edit ----------------------------------------------------------------------------------
    def edit_page(
        request: Request,
        session: Session,
        form: dict,
        problems: dict,
        editing: str | None,
        draft_id: int | None,
        status: int = 200,
        note: str = "",
    ) -> Response:
        return page(
            request,
            "faq_edit.html",
            status=status,
            session=session,
            form=form,
            problems=problems,
            editing=editing or "",
            draft_id=draft_id or "",
            topics=TOPICS,
            laws=library().titles,
            note=note,
        )

    @r.get("/new", name="faq_new")
    def new_entry(request: Request, session: Publicity) -> Response:
        form = {name: "" for name in FIELDS} | {"reviewed_on": dt.date.today().isoformat()}
        return edit_page(request, session, form, {}, None, None)

    @r.get("/{entry_id}/edit", name="faq_edit")
    def edit_entry(
        request: Request, session: Publicity, entry_id: str, draft_id: int | None = Query(None, ge=1, le=MAX_ID)
    ) -> Response:
        if draft_id is not None:
            d = draft(draft_id)
            if d["status"] not in ("draft", "rejected"):
                raise HTTPException(409, "这份草稿已送审或已发布，不能再改")
            return edit_page(
                request,
                session,
                form_of(d["entry"]),
                {},
                d["entry_id"] if d["entry_id"] in {e.id for e in entries()} else None,
                draft_id,
                note=d["note"] or "",
            )
        entry = next((e for e in entries() if e.id == entry_id), None)
        if entry is None:
            raise HTTPException(404, "没有这条问答")
        form = form_of(kb.entry_to_dict(entry)) | {"reviewed_on": dt.date.today().isoformat()}
        return edit_page(request, session, form, {}, entry_id, None)

    @r.post("/save", name="faq_save")
    def save(
        request: Request,
        session: PublicityForm,
        editing: str = Form(""),
        draft_id: str = Form(""),
        id: str = Form(""),
        topic: str = Form(""),
        subtopic: str = Form(""),
        question: str = Form(""),
        paraphrases: str = Form(""),
        answer: str = Form(""),
        citations: str = Form(""),
        reviewed_on: str = Form(""),
        facts: str = Form(""),
    ) -> Response:
        form = {
            "id": id.strip(),
            "topic": topic,
            "subtopic": subtopic,
            "question": question,
            "paraphrases": paraphrases,
            "answer": answer,
            "citations": citations,
            "reviewed_on": reviewed_on.strip(),
            "facts": facts,
        }
        known = {e.id for e in entries()}
        existing = row_id(draft_id)
        if existing is not None:
            d = draft(existing)
            if d["status"] not in ("draft", "rejected") or d["author"] != session.user.username:
                existing = None  # someone else's or a sent draft: save as a new draft
        data, problems = check_form(form, library(), known, editing or None)
        if problems or data is None:  # (data is None exactly when there are problems)
            return edit_page(request, session, form, problems, editing or None, existing, status=422)
        now = dt.datetime.now()
        with engine.begin() as conn:
            if existing is not None:
                conn.execute(
                    update(faq_drafts)
                    .where(faq_drafts.c.id == existing)
                    .values(
                        entry_id=data["id"], data=json.dumps(data, ensure_ascii=False), status="draft", updated_at=now
                    )
                )
                new_id = existing
            else:
                new_id = conn.execute(
                    insert(faq_drafts).values(
                        entry_id=data["id"],
                        data=json.dumps(data, ensure_ascii=False),
                        status="draft",
                        author=session.user.username,
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]
        audit(session.user.username, "faq_draft_save", f"faq:{data['id']}", None)
        return redirect(request, "faq_draft", draft_id=new_id)

    @r.get("/articles.json", name="faq_articles", dependencies=[Depends(require(PERMISSION))])
    def articles(law: str = "", q: str = "") -> JSONResponse:
        lib, words = library(), q.strip()
        number = None
        match = re.fullmatch(r"第?\s*([0-9一二三四五六七八九十百千零两]+)\s*条?", words)
        if match:
            try:
                number = chinese_number(match.group(1))
            except ValueError:
                number = None
        found = []
        for article in lib:
            if law and article.law != law:
                continue
            if not lib.citable(article.law):
                continue
            if number is not None:
                hit = article.number == number
            else:
                hit = bool(words) and all(w in article.text for w in words.split())
            if hit:
                found.append({"law": article.law, "number": article.ref, "text": article.text})
                if len(found) >= 20:
                    break
        return JSONResponse({"articles": found}, headers={"Cache-Control": "no-store"})

    # ---- drafts and review ---------------------------------------------------------------------
    @r.get("/drafts/{draft_id}", name="faq_draft")
    def draft_page(request: Request, session: Publicity, draft_id: RowId, error: str = "") -> Response:
        d = draft(draft_id)
        return page(
            request,
            "faq_draft.html",
            session=session,
            d=d,
            e=d["entry"],
            statuses=STATUS_NAMES,
            may_review=may_review(session, d),
            error={"reason": "退回时请写明原因"}.get(error, ""),  # a fixed text, never the address's own
            is_author=d["author"] == session.user.username,
        )

    @r.post("/drafts/{draft_id}/submit", name="faq_submit")
    def submit(request: Request, session: PublicityForm, draft_id: RowId) -> Response:
        d = draft(draft_id)
        if d["status"] not in ("draft", "rejected") or d["author"] != session.user.username:
            raise HTTPException(409, "只有作者可以把草稿送审")
        set_status(draft_id, status="review", note=None)
        audit(session.user.username, "faq_submit", f"faq:{d['entry_id']}", None)
        return redirect(request, "faq_draft", draft_id=draft_id)

    @r.post("/drafts/{draft_id}/reject", name="faq_reject")
    def reject(request: Request, session: PublicityForm, draft_id: RowId, note: str = Form("")) -> Response:
        d = draft(draft_id)
        if not may_review(session, d):
            raise HTTPException(409, "这份草稿不在待审核状态，或者您是作者本人")
        if not note.strip():
            return redirect(request, "faq_draft", "error=reason", draft_id=draft_id)
        set_status(draft_id, status="rejected", reviewer=session.user.username, note=note.strip()[:2000])
        audit(session.user.username, "faq_reject", f"faq:{d['entry_id']}", None)
        return redirect(request, "faq_draft", draft_id=draft_id)

    def run_publish(draft_id: int, data: dict, entry_id: str, reviewer: str) -> None:
        """Publish in a worker thread (building the index takes a minute or two with the real model)."""
        with publish_lock:
            try:
                version = publish_entry(settings, data, embedder())
            except (LegalTriageError, OSError, ValueError) as exc:
                logger.warning("faq_publish_failed error=%s", type(exc).__name__)
                message = (
                    str(exc) if type(exc) is LegalTriageError else "发布没有完成（知识库或索引有问题），请联系管理员"
                )
                set_status(draft_id, status="review", note="发布失败：" + message)
                return
            set_status(draft_id, status="published", reviewer=reviewer, note=None)
        audit(reviewer, "faq_publish", f"faq:{entry_id}", version.name)

    @r.post("/drafts/{draft_id}/approve", name="faq_approve")
    def approve(request: Request, session: PublicityForm, draft_id: RowId) -> Response:
        d = draft(draft_id)
        if not may_review(session, d):
            raise HTTPException(409, "这份草稿不在待审核状态，或者您是作者本人")
        with engine.begin() as conn:  # only one reviewer starts publishing a draft
            claimed = conn.execute(
                update(faq_drafts)
                .where(faq_drafts.c.id == draft_id, faq_drafts.c.status == "review")
                .values(status="publishing", reviewer=session.user.username, updated_at=dt.datetime.now())
            ).rowcount
        if not claimed:
            raise HTTPException(409, "这份草稿已在发布中")
        audit(session.user.username, "faq_approve", f"faq:{d['entry_id']}", None)
        threading.Thread(
            target=run_publish,
            args=(draft_id, d["entry"], d["entry_id"], session.user.username),
            name="faq-publish",
            daemon=True,
        ).start()
        return redirect(request, "faq_draft", draft_id=draft_id)

    # ---- try a question ------------------------------------------------------------------------
    @r.get("/try", name="faq_try")
    def try_question(request: Request, session: Publicity, q: str = "") -> Response:
        result, error = None, ""
        text = q.strip()[:500]
        if text:
            try:
                found = retriever()
                hits = found.search(text, 5)
                decision = found.index.decide(hits)
                result = {
                    "hits": hits,
                    "decision": decision.kind.value,
                    "answering": [h.entry.id for h in decision.hits] if decision.kind.value != "none" else [],
                }
            except (NotFoundError, LegalTriageError, OSError):
                error = "还没有发布的问答索引，或索引读不出来"
        return page(request, "faq_try.html", session=session, q=q, result=result, error=error, decisions=DECISIONS)

    # ---- versions ------------------------------------------------------------------------------
    def current() -> str:
        try:
            return retrieval.current_version(settings.faq_index_dir)
        except NotFoundError:
            return ""

    @r.get("/versions", name="faq_versions")
    def versions_page(request: Request, session: Publicity, done: str = "") -> Response:
        root = settings.faq_index_dir
        rows = [version_info(root, v) for v in reversed(retrieval.versions(root))] if root.exists() else []
        now = current()
        msg = f"已切换到版本 {now}" if done == "rollback" and now else ""  # the server's version, not the address's
        return page(request, "faq_versions.html", session=session, rows=rows, current=now, msg=msg)

    def known_version(version: str) -> str:
        if version not in retrieval.versions(settings.faq_index_dir):
            raise HTTPException(404, "没有这个版本")
        return version

    @r.get("/versions/{version}", name="faq_version")
    def version_diff(request: Request, session: Publicity, version: str) -> Response:
        version, now = known_version(version), current()
        diff = (
            diff_versions(settings.faq_index_dir, version, now) if now else {"added": [], "removed": [], "changed": []}
        )
        return page(
            request,
            "faq_diff.html",
            session=session,
            version=version_info(settings.faq_index_dir, version),
            current=now,
            diff=diff,
        )

    @r.post("/versions/{version}/rollback", name="faq_rollback")
    def rollback(request: Request, session: PublicityForm, version: str) -> Response:
        version = known_version(version)
        retrieval.publish(settings.faq_index_dir, version)
        audit(session.user.username, "faq_rollback", f"faq_index:{version}", None)
        return redirect(request, "faq_versions", "done=rollback")

    # ---- unanswered ----------------------------------------------------------------------------
    def clusters() -> list[dict]:
        questions = console.store.unanswered()
        return cluster_questions(questions, embedder(), retriever().index) if questions else []

    @r.get("/unanswered", name="faq_unanswered")
    def unanswered_page(request: Request, session: Publicity) -> Response:
        return page(
            request,
            "faq_unanswered.html",
            session=session,
            clusters=clusters(),
            reason_names={"none": "没找到", "low_confidence": "把握不大", "fallback": "没听懂"},
        )

    @r.post("/unanswered/draft", name="faq_cluster_draft")
    def cluster_draft(request: Request, session: PublicityForm, ids: str = Form("")) -> Response:
        wanted = {n for n in map(row_id, ids.split(",")) if n is not None}
        cluster = next((c for c in clusters() if wanted & set(c["ids"])), None)
        if cluster is None:
            raise HTTPException(404, "这组问题已经处理过了，请刷新页面")
        form = {name: "" for name in FIELDS} | {
            "topic": cluster["topic"],
            "question": cluster["central"],
            "paraphrases": "\n".join(cluster["texts"][1:]),
            "reviewed_on": dt.date.today().isoformat(),
        }
        audit(session.user.username, "faq_cluster_draft", f"unanswered:{len(cluster['ids'])}", None)
        return edit_page(
            request, session, form, {}, None, None, note="由未答问题生成：请补上编号、答案和法条，保存后即为草稿。"
        )

    return r
