"""A streaming reader of XES event logs (`.xes`, `.xes.gz`).

    log = read_xes(path, ["concept:name", "time:timestamp", "org:resource"])
    log.events    # Polars: _trace (index into log.traces), _line, and one text column per key asked for
    log.traces    # one dict of trace attributes per trace (all of them; the first of a repeated key)

Values stay the text written in the file (a `<date>` keeps its offset); the caller types them.
`<global>` defaults are not applied: an attribute an event lacks is null. Of a key repeated within
one event, the first value counts. Nested attributes (lists, containers) give their own value only.

Two readers give the same result:
- a fast one for the canonical layout that ProM, pm4py, Disco and the BPI Challenge files use
  (`<event>` / `<trace>` tags without attributes, every attribute written as
  `<TYPE key="K" value="V"/>`): the text is decompressed in chunks that end at a `</trace>`, each
  chunk is split at `<event>` and the values are cut out column-wise by Polars. Every `<` in the
  chunk must be accounted for by those forms, else the file goes to:
- `lxml.etree.iterparse`, reacting only to the end of `<event>` and `<trace>` elements, each
  dropped from the tree as soon as it is read (any well-formed XES; names the line of a syntax error).
Neither keeps the XML tree in memory.
"""

from __future__ import annotations

import gzip
import html
import queue
import re
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import polars as pl
from lxml import etree

from dealpulse.errors import InputError
from dealpulse.i18n import t

CHUNK_BYTES = 4 * 1024 * 1024
ATTR_TYPES = ("string", "date", "int", "float", "boolean", "id")
_PAIR = re.compile(r'<(?:string|date|int|float|boolean|id) key="([^"]*)" value="([^"]*)"\s*/>')
_STRUCT = re.compile(r"</?(?:event|trace|log)>")
_ENCODING = re.compile(rb'^\s*<\?xml[^>]*encoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')


@dataclass
class XesLog:
    """What `read_xes` read: `events` (Polars) and the trace attributes, in file order."""

    path: str
    events: pl.DataFrame
    traces: list[dict[str, str]] = field(default_factory=list)
    trace_lines: list[int] = field(default_factory=list)
    reader: str = "fast"

    @property
    def n_events(self) -> int:
        return self.events.height


class _NotCanonical(Exception):
    """The fast reader met a layout it does not handle; the lxml reader takes over."""


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def read_xes(
    path: str | Path,
    event_keys: Iterable[str],
    *,
    lang: str = "en",
    progress: Callable[[int], None] | None = None,
    fast: bool = True,
) -> XesLog:
    """Read the traces (all their attributes) and, per event, the attributes named in `event_keys`.

    `progress(events_read)` is called now and then. Raises InputError naming the file and the
    line when the file is not XES or its XML is broken.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(t("eventlog.file_missing", lang, file=str(path)),
                         suggestion=t("eventlog.file_missing.suggestion", lang))
    keys = list(dict.fromkeys(event_keys))
    if fast:
        try:
            return _read_fast(path, keys, lang, progress)
        except _NotCanonical:
            pass
    return _read_lxml(path, keys, lang, progress)


# -- the fast reader ---------------------------------------------------------------------------
def _chunks(path: Path, lang: str) -> Iterator[bytes]:
    """Decompressed text in pieces that each end just after a `</trace>` (the last: the rest).

    Decompression runs in a thread (zlib lets go of the GIL), so it overlaps the work on the
    previous piece."""
    q: "queue.Queue[tuple[str, Any]]" = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            with _open(path) as fh:
                while not stop.is_set():
                    piece = fh.read(CHUNK_BYTES)
                    if not piece:
                        break
                    q.put(("data", piece))
            q.put(("end", None))
        except BaseException as exc:  # handed to the consumer
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="xes-gunzip", daemon=True)
    worker.start()
    rest = b""
    try:
        while True:
            kind, payload = q.get()
            if kind == "error":
                raise payload
            if kind == "end":
                if rest:
                    yield rest
                return
            buf = rest + payload if rest else payload
            cut = buf.rfind(b"</trace>")
            if cut < 0:
                rest = buf
                continue
            cut += len(b"</trace>")
            yield buf[:cut]
            rest = buf[cut:]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _extract(key: str, src: str = "e") -> pl.Expr:
    lit = f'key="{key}" value="'
    pos = pl.col(src).str.find(lit, literal=True)
    after = pl.col(src).str.slice(pos + len(lit))
    return after.str.slice(0, after.str.find('"', literal=True))


def _trace_attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in _PAIR.findall(text):
        if k not in out:
            out[k] = html.unescape(v) if "&" in v else v
    return out


def _read_fast(path: Path, keys: list[str], lang: str, progress: Callable[[int], None] | None) -> XesLog:
    traces: list[dict[str, str]] = []
    trace_lines: list[int] = []
    frames: list[pl.DataFrame] = []
    line_offset = 0  # newlines before the current chunk
    n_events = 0
    first = True
    saw_log_end = False
    try:
        for raw in _chunks(path, lang):
            if first:
                m = _ENCODING.match(raw[:200])
                if m and m.group(1).decode("ascii").lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
                    raise _NotCanonical
                first = False
                head_end = raw.find(b"<trace")
                if head_end < 0 or raw.find(b"<log") < 0 or raw.find(b"<log") > head_end:
                    raise _NotCanonical
                head = raw[:head_end]
                if b"<event" in head:
                    raise _NotCanonical
                line_offset += head.count(b"\n")
                raw = raw[head_end:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotCanonical from None
            parts = text.split("<event>")
            # parts[0]: `<trace>` + trace attributes; parts[i>0]: event i-1 up to `</event>`, then
            # what lies between it and the next event (closing tags, the next trace's attributes).
            blocks = pl.DataFrame({"b": pl.Series("b", parts, dtype=pl.Utf8)})
            del parts
            end_pos = pl.col("b").str.find("</event>", literal=True)
            df = blocks.lazy().with_columns(
                e=pl.col("b").str.slice(0, end_pos),
                tail=pl.col("b").str.slice(end_pos),
                has_end=end_pos.is_not_null(),
                nl=pl.col("b").str.count_matches("\n", literal=True),
            ).with_columns(
                e_lt=pl.col("e").str.count_matches("<", literal=True),
                e_key=pl.col("e").str.count_matches(' key="', literal=True),
                e_val=pl.col("e").str.count_matches('" value="', literal=True),
                e_close=pl.col("e").str.count_matches("/>", literal=True),
                t_lt=pl.col("tail").str.count_matches("<", literal=True),
                t_key=pl.col("tail").str.count_matches(' key="', literal=True),
                t_struct=pl.col("tail").str.count_matches(_STRUCT.pattern),
                t_open=pl.col("tail").str.count_matches("<trace>", literal=True),
                t_close=pl.col("tail").str.count_matches("</trace>", literal=True),
                t_log_end=pl.col("tail").str.contains("</log>", literal=True),
                t_key_before_trace=pl.col("tail").str.slice(
                    0, pl.col("tail").str.find("<trace>", literal=True).fill_null(pl.col("tail").str.len_chars())
                ).str.count_matches(' key="', literal=True),
                amp=pl.col("e").str.contains("&", literal=True),
                **{f"k{i}": _extract(k) for i, k in enumerate(keys)},
            ).collect()
            del blocks
            # block 0 is no event: it opens the chunk's first trace, and plays the part of a tail
            head_text = df["b"][0]
            if head_text.count("<") != len(_STRUCT.findall(head_text)) + len(_PAIR.findall(head_text)):
                raise _NotCanonical
            body = df.slice(1)
            if body.height:
                ok = body.select(
                    pl.col("has_end").all()
                    & ((pl.col("e_lt") == pl.col("e_key")) & (pl.col("e_key") == pl.col("e_val"))
                       & (pl.col("e_close") >= pl.col("e_key"))).all()
                    & (pl.col("t_lt") == pl.col("t_struct") + pl.col("t_key")).all()
                    & (pl.col("t_key_before_trace") == 0).all()
                ).item()
                if not ok:
                    raise _NotCanonical
            opens = pl.concat([pl.Series([head_text.count("<trace>")], dtype=pl.UInt32), body["t_open"].cast(pl.UInt32)])
            closes = head_text.count("</trace>") + int(body["t_close"].sum() or 0)
            if closes != int(opens.sum()):
                raise _NotCanonical
            nl_cum = df["nl"].cast(pl.Int64).cum_sum()
            # the trace of event i (block i+1) is the last one opened in blocks 0..i
            base = len(traces)
            opening = (opens > 0).arg_true()
            tails_open = body["tail"].gather((opening.filter(opening > 0) - 1)).to_list() if body.height else []
            nls_open = df["nl"].gather(opening).to_list()
            starts_open = nl_cum.shift(1, fill_value=0).gather(opening).to_list()
            k = 0
            for m, bi in enumerate(opening.to_list()):
                if bi == 0:
                    text_b = head_text
                else:
                    text_b = tails_open[k]
                    k += 1
                block_start_line = line_offset + 1 + starts_open[m]
                seg_line = block_start_line + (nls_open[m] - text_b.count("\n"))
                segs = text_b.split("<trace>")
                seg_line += segs[0].count("\n")
                for seg in segs[1:]:
                    traces.append(_trace_attrs(seg.split("</trace>", 1)[0]))
                    trace_lines.append(seg_line)
                    seg_line += seg.count("\n")
            if "</log>" in head_text or bool(body["t_log_end"].any()):
                saw_log_end = True
            if body.height:
                n_ev = body.height
                trace_idx = (opens.cast(pl.Int64).cum_sum().slice(0, n_ev) + (base - 1)).alias("_trace")
                if int(trace_idx.min()) < 0:
                    raise _NotCanonical  # an event before any trace
                frame = body.select(
                    trace_idx,
                    (nl_cum.slice(0, n_ev) + line_offset + 1).alias("_line"),
                    *[pl.col(f"k{i}").alias(k) for i, k in enumerate(keys)],
                    pl.col("amp"),
                )
                frames.append(frame)
                n_events += n_ev
                if progress is not None:
                    progress(n_events)
            line_offset += int(nl_cum[-1]) if nl_cum.len() else 0
    except (OSError, EOFError, zlib.error):
        raise _NotCanonical from None  # the lxml reader reports it with a line
    if not saw_log_end:
        raise _NotCanonical
    events = pl.concat(frames) if frames else pl.DataFrame(
        {"_trace": [], "_line": [], **{k: [] for k in keys}, "amp": []},
        schema={"_trace": pl.Int64, "_line": pl.Int64, **{k: pl.Utf8 for k in keys}, "amp": pl.Boolean},
    )
    if events.height and events["amp"].any():
        fixed = {}
        for k in keys:
            col = events[k]
            fixed[k] = pl.Series(k, [html.unescape(v) if v is not None and "&" in v else v for v in col.to_list()], dtype=pl.Utf8)
        events = events.with_columns(**fixed)
    events = events.drop("amp")
    return XesLog(path=str(path), events=events, traces=traces, trace_lines=trace_lines, reader="fast")


# -- the general reader --------------------------------------------------------------------------
def _read_lxml(path: Path, keys: list[str], lang: str, progress: Callable[[int], None] | None) -> XesLog:
    index = {k: i for i, k in enumerate(keys)}
    width = len(keys)
    rows: list[list[Any]] = []
    event_trace: list[int] = []
    event_line: list[int] = []
    traces: list[dict[str, str]] = []
    trace_lines: list[int] = []
    pending: list[int] = []
    seen_log = False
    context = None
    try:
        with _open(path) as fh:
            context = etree.iterparse(
                fh, events=("end",), tag=("{*}event", "{*}trace"),
                huge_tree=True, remove_blank_text=True, resolve_entities=False, no_network=True,
            )
            for _action, el in context:
                if not seen_log:
                    root = el.getroottree().getroot()
                    if _local(root.tag) != "log":
                        raise InputError(
                            t("eventlog.xes_not_log", lang, file=str(path), line=root.sourceline or 1, tag=_local(root.tag)),
                            suggestion=t("eventlog.xes_not_log.suggestion", lang),
                        )
                    seen_log = True
                parent = el.getparent()
                if _local(el.tag) == "event":
                    if parent is None or _local(parent.tag) != "trace":
                        raise InputError(
                            t("eventlog.xes_event_outside_trace", lang, file=str(path), line=el.sourceline or 0),
                            suggestion=t("eventlog.xes_broken.suggestion", lang),
                        )
                    vals: list[Any] = [None] * width
                    for child in el:
                        i = index.get(child.get("key"))
                        if i is not None and vals[i] is None:
                            vals[i] = child.get("value")
                    rows.append(vals)
                    pending.append(el.sourceline or 0)
                    if progress is not None and len(rows) % 50_000 == 0:
                        progress(len(rows))
                else:
                    attrs: dict[str, str] = {}
                    for child in el:
                        k = child.get("key")
                        if k is not None and k not in attrs and _local(child.tag) != "event":
                            attrs[k] = child.get("value")
                    event_trace.extend([len(traces)] * len(pending))
                    event_line.extend(pending)
                    pending = []
                    traces.append(attrs)
                    trace_lines.append(el.sourceline or 0)
                el.clear()
                if parent is not None:
                    parent.remove(el)
    except etree.XMLSyntaxError as exc:
        raise InputError(
            t("eventlog.xes_broken", lang, file=str(path), line=getattr(exc, "lineno", None) or "?",
              error=getattr(exc, "msg", None) or str(exc)),
            suggestion=t("eventlog.xes_broken.suggestion", lang),
        ) from None
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
        raise InputError(
            t("eventlog.xes_unreadable", lang, file=str(path), error=str(exc)),
            suggestion=t("eventlog.xes_broken.suggestion", lang),
        ) from None
    root = getattr(context, "root", None) if context is not None else None
    if not seen_log and (root is None or _local(root.tag) != "log"):
        raise InputError(
            t("eventlog.xes_not_log", lang, file=str(path), line=1, tag=_local(getattr(root, "tag", "?")) or "?"),
            suggestion=t("eventlog.xes_not_log.suggestion", lang),
        )
    columns = list(zip(*rows)) if rows else [() for _ in keys]
    events = pl.DataFrame(
        {"_trace": event_trace, "_line": event_line, **{k: list(columns[i]) for i, k in enumerate(keys)}},
        schema={"_trace": pl.Int64, "_line": pl.Int64, **{k: pl.Utf8 for k in keys}},
    )
    return XesLog(path=str(path), events=events, traces=traces, trace_lines=trace_lines, reader="lxml")


__all__ = ["XesLog", "read_xes"]
