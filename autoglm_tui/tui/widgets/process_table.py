"""The process table: GPU processes first, then top CPU; rows are updated in place by pid."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from autoglm_tui import format as fmt
from autoglm_tui.model import ProcSample, Sample
from autoglm_tui.text import clean
from autoglm_tui.tui.procview import ProcRow, ViewOptions, short_command, visible_rows
from autoglm_tui.tui.render import Palette


@dataclass(frozen=True, slots=True)
class Col:
    key: str
    label: str
    width: int
    right: bool


# Widths include the one-cell gap that starts every cell (the table has no cell padding).
COLUMNS = (
    Col("pid", "PID", 8, True),
    Col("user", "USER", 9, False),
    Col("gpu", "GPU MEM", 8, True),
    Col("sm", "SM%", 5, True),
    Col("cpu", "CPU%", 7, True),
    Col("rss", "RSS", 7, True),
    Col("time", "ELAPSED", 8, True),  # wall time since start (top's TIME is CPU time)
)
CMD_KEY = "cmd"
MIN_CMD = 12


def _cells(row: ProcRow, now: float, p: Palette) -> tuple[Text, ...]:
    """The cells of one process: sanitised Text, never markup."""
    proc = row.proc

    def num(value: str, style: str = "") -> Text:
        return Text(value, style=style, justify="right", no_wrap=True, overflow="ellipsis")

    elapsed = None if proc.create_time is None else now - proc.create_time
    cpu = proc.cpu_pct
    cmd = Text(" ", no_wrap=True, overflow="ellipsis")
    cmd.append(row.prefix, style=p.muted)
    main, launcher = short_command(proc)  # the script or module first, then the interpreter
    cmd.append(main)
    if launcher:
        cmd.append(f"  ({launcher})", style=p.muted)
    return (
        num(str(proc.pid), f"bold {p.accent}" if row.is_gpu else ""),
        Text(" " + clean(proc.user, 32), no_wrap=True, overflow="ellipsis"),
        num(fmt.bytes_(proc.gpu_mem_bytes, na="")),
        num(fmt.pct(proc.sm_pct, na="")),
        num(fmt.num(cpu, digits=1), p.level(cpu, 50, 90) if cpu else p.muted),
        num(fmt.bytes_(proc.rss_bytes)),
        num(fmt.duration(elapsed)),
        cmd,
    )


def _first_per_pid(rows: list[ProcRow]) -> list[ProcRow]:
    seen: set[int] = set()
    out: list[ProcRow] = []
    for row in rows:
        if row.proc.pid not in seen:
            seen.add(row.proc.pid)
            out.append(row)
    return out


def _signature(cells: tuple[Text, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((c.plain, str(c.style)) for c in cells)


class ProcessTable(DataTable):
    """Processes of one sample; the cursor follows the selected process when rows move."""

    # DataTable's Home/End move between columns; in a table of rows they go to the ends.
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    class Open(Message):
        """The user asked for the detail of a process (Enter or double click)."""

        def __init__(self, proc: ProcSample) -> None:
            super().__init__()
            self.proc = proc

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=0, id=id)
        self._sigs: dict[str, tuple[tuple[str, str], ...]] = {}
        self._cmds: dict[str, Text] = {}
        self._order: list[str] = []
        self._procs: dict[str, ProcSample] = {}
        self._selected: str | None = None
        self._cmd_width = 0
        self.shown = 0

    def on_mount(self) -> None:
        for c in COLUMNS:
            justify = "right" if c.right else "left"
            label = Text(c.label if c.right else " " + c.label, justify=justify)
            self.add_column(label, width=c.width, key=c.key)
        self._cmd_width = self._fit_cmd_width()
        self.add_column(Text(" COMMAND"), width=self._cmd_width, key=CMD_KEY)

    def _fit_cmd_width(self) -> int:
        fixed = sum(c.width + 2 * self.cell_padding for c in COLUMNS) + 2 * self.cell_padding
        scrollbar = self.styles.scrollbar_size_vertical
        return max(MIN_CMD, self.size.width - scrollbar - fixed)

    def on_resize(self, event: events.Resize) -> None:
        width = self._fit_cmd_width()
        if width == self._cmd_width or CMD_KEY not in {k.value for k in self.columns}:
            return
        self._cmd_width = width
        self.remove_column(CMD_KEY)
        self.add_column(Text(" COMMAND"), width=width, key=CMD_KEY)
        for key in self._order:  # re-fill the new column with the last commands shown
            if key in self._cmds:
                self.update_cell(key, CMD_KEY, self._cmds[key])

    # ------------------------------------------------------------------ data

    @property
    def selected(self) -> ProcSample | None:
        """The process under the cursor, as last shown."""
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self._procs.get(key or "")

    def show(self, sample: Sample | None, opts: ViewOptions, palette: Palette) -> None:
        """Make the table show `sample`'s processes: update changed cells, add/remove rows
        only when the set of processes changes, then reorder."""
        rows = visible_rows(sample.procs, opts) if sample is not None else []
        now = sample.t if sample is not None else 0.0
        rows = _first_per_pid(rows)  # a bad stream may list a pid twice: show it once
        keys = [str(r.proc.pid) for r in rows]
        selected = self._selected
        wanted = set(keys)
        for key in [k for k in self._order if k not in wanted]:
            self.remove_row(key)
            self._sigs.pop(key, None)
            self._cmds.pop(key, None)
            self._procs.pop(key, None)
        present = set(self._procs)
        for row, key in zip(rows, keys, strict=True):
            cells = _cells(row, now, palette)
            sig = _signature(cells)
            self._procs[key] = row.proc
            self._cmds[key] = cells[-1]
            if key not in present:
                self.add_row(*cells, key=key)
                self._sigs[key] = sig
                continue
            old = self._sigs.get(key)
            if old == sig:
                continue
            col_keys = [c.key for c in COLUMNS] + [CMD_KEY]
            for i, (col, cell) in enumerate(zip(col_keys, cells, strict=True)):
                if old is None or old[i] != sig[i]:
                    self.update_cell(key, col, cell)
            self._sigs[key] = sig
        if keys != self._order_now():
            rank = {k: i for i, k in enumerate(keys)}
            self.sort("pid", key=lambda cell: rank.get(cell.plain, len(rank)))
        self._order = keys
        self.shown = len(keys)
        if selected is not None and selected in wanted:
            index = keys.index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)
        elif keys:
            index = min(max(0, self.cursor_row), len(keys) - 1)
            self._selected = keys[index]
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)

    def _order_now(self) -> list[str]:
        return [str(r.key.value) for r in self.ordered_rows]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self and event.row_key is not None:
            self._selected = event.row_key.value

    # ------------------------------------------------------------------ opening

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter, or a click on the highlighted row (the second click of a double click)."""
        event.stop()
        proc = self.selected
        if proc is not None:
            self.post_message(self.Open(proc))

    def to_top(self) -> None:
        """Put the cursor on the first row and scroll to it."""
        self._selected = self._order[0] if self._order else None
        if self._order:
            self.move_cursor(row=0)
        self.scroll_to(y=0, animate=False, immediate=True)

    def select_pid(self, pid: int) -> bool:
        """Move the cursor to `pid`'s row; False when it is not shown."""
        key = str(pid)
        if key not in self._order:
            return False
        self._selected = key
        self.move_cursor(row=self._order.index(key))
        return True

