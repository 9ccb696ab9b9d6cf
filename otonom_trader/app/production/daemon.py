"""The daemon: one reconcile tick at a time (git → desired state → bars → engine → orders).

Each tick fetches and fast-forwards the tracked branch (never a merge), loads and validates
what changed (a failing version is refused and the last good one keeps running), polls the
feeds and, for every strategy and every new bar, turns the engine's fills on that bar into
orders: the intent is journaled, then sent. Nothing here prints: problems become journal
events, and ``notes`` collects the warnings of the last tick for the caller to show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from otonom_trader.adapters.brokers.base import (
    BrokerAmbiguous,
    BrokerError,
    BrokerRejected,
)
from otonom_trader.adapters.feeds.base import Feed, open_feed
from otonom_trader.adapters.journal import Intent, Journal
from otonom_trader.app.production import reconcile
from otonom_trader.app.production.brokers import live_broker, paper_for
from otonom_trader.app.production.decide import client_order_id, engine_orders
from otonom_trader.app.production.desired import DesiredState, Running, load_desired
from otonom_trader.domain.errors import GitStateError, InputError, OtonomError, RunError

REMOTE = "origin"


@dataclass
class DaemonConfig:
    root: Path = Path(".")
    branch: str = "main"
    feed: str | None = None  # None: replay each strategy's own symbol
    journal_url: str | None = None
    data_dir: str = "data"
    stall_after: int = 3  # polls without a new bar before the feed counts as stalled
    fetch_every: float = 60.0  # seconds between fetches (a fast replay does not hammer it)
    failsafe: bool = True  # live strategies whose verdict turns rollback: halt + rollback PR
    # The fail-safe's pull request: None = only off a replay (a replay is a simulation and
    # must not push branches to the real origin), True/False = always/never.
    failsafe_prs: bool | None = None
    params_path: str = "params.yaml"  # `rollout:` thresholds, relative to root
    verdict_every: int = 5  # bars between two fail-safe verdicts (and at most one a day)


@dataclass
class TickReport:
    bars: int = 0  # (strategy, bar) pairs decided
    orders: int = 0
    notes: list[str] = field(default_factory=list)  # warnings for the console


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.cfg = config
        self.journal = Journal(config.journal_url)
        self.repo = self._open_repo()
        self.state: DesiredState | None = None
        self.feeds: dict[str, Feed] = {}
        self.brokers: dict[str, object] = {}
        self._last_bar: dict[str, pd.Timestamp] = {}
        self._idle: dict[str, int] = {}
        self._said: set[str] = set()
        self._fetched = -float("inf")
        self._failsafe: dict[str, object] = {}  # name -> the git entry it was halted under
        self._verdict_at: dict[str, tuple] = {}  # name -> (bar date, bars) of the last verdict
        self._thresholds: tuple = (None, None)  # (commit, thresholds of params.yaml)
        self._expected: dict[tuple[str, str], tuple] = {}  # (name, version) -> figures
        self._seen: dict[str, int] = {}  # name -> bars decided by this process
        self.report = TickReport()

    # -- setup ----------------------------------------------------------------------

    def _open_repo(self):
        from otonom_trader.adapters.git_repo import GitRepo

        try:
            return GitRepo(self.cfg.root)
        except GitStateError:
            return None  # not a clone: run the work tree's files, no git sync

    def start(self) -> list[str]:
        """Load the desired state (a bad one is an ``InputError``), open feeds and brokers,
        reconcile with the brokers (``RunError`` when the daemon must not start)."""
        commit = self._sync()
        state = self._load(commit)
        self._connect(state)
        self._switch(state, commit)
        self._restore_failsafe()
        found = reconcile.startup(self.journal, self.brokers)
        for run in self.state.strategies:
            last = self.journal.last_bar(run.entry.name)
            if last is not None:
                self._feed(run).resume(pd.Timestamp(last))
        return found

    def _load(self, commit: str | None) -> DesiredState:
        if self.repo is None or commit is None:
            root = self.cfg.root

            def read(path: str) -> str | None:
                p = root / path
                return p.read_text() if p.is_file() else None
        else:
            def read(path: str) -> str | None:
                return self.repo.file_at(commit, path)
        return load_desired(read, commit)

    def _connect(self, state: DesiredState) -> None:
        """Feeds and brokers for every strategy; raises InputError before anything changes."""
        feeds, brokers = {}, {}
        live: dict[str, object] = {}
        for run in state.strategies:
            key = self._feed_key(run)
            feeds[key] = self.feeds.get(key) or open_feed(
                self.cfg.feed or "replay", run.strategy.data.symbol or "SPX",
                self.cfg.data_dir, run.strategy.data.on_bad_bars)
            e = run.entry
            if e.stage == "live" and e.broker != "paper":
                if e.broker not in live:
                    known = [b for b in self.brokers.values()
                             if getattr(b, "name", None) == e.broker]
                    live[e.broker] = known[0] if known else live_broker(e.broker)
                brokers[e.name] = live[e.broker]
            else:
                brokers[e.name] = paper_for(self.journal.engine, e.name, state.book_of(run),
                                            run.strategy.execution.fee_bps)
        self.feeds, self.brokers = feeds, brokers

    def _feed_key(self, run: Running) -> str:
        return self.cfg.feed or f"replay:{run.strategy.data.symbol or 'SPX'}"

    def _feed(self, run: Running) -> Feed:
        return self.feeds[self._feed_key(run)]

    # -- git ------------------------------------------------------------------------

    def _once(self, key: str, kind: str, message: str, level: str = "warning") -> None:
        if key not in self._said:
            self._said.add(key)
            self._event(kind, message, level=level)

    def _event(self, kind: str, message: str, level: str = "warning",
               deployment: str | None = None) -> None:
        commit = self.state.commit if self.state else None
        self.journal.event(kind, message, level=level, deployment=deployment, commit=commit)
        if level != "info":
            self.report.notes.append(message)

    def _sync(self) -> str | None:
        """Fetch and fast-forward the branch; returns the commit to run (None: no git)."""
        repo, branch = self.repo, self.cfg.branch
        if repo is None:
            self._once("nogit", "no_git", f"{self.cfg.root} is not a git clone: running its "
                       "files as they are, without following a branch", "info")
            return None
        if not repo.branch_exists(branch):
            raise InputError(f"--branch {branch}: no such branch in {repo.root}")
        local = repo.head_sha(branch)
        if time.monotonic() - self._fetched < self.cfg.fetch_every:
            return local  # the remote is asked (a `git config`, a fetch) at most this often
        self._fetched = time.monotonic()
        if repo.remote_url(REMOTE) is None:
            self._once("noremote", "no_remote", f"no remote `{REMOTE}`: following the local "
                       f"branch {branch} without fetching", "info")
            return local
        try:
            repo.fetch(REMOTE, branch)
            remote = repo.head_sha(f"{REMOTE}/{branch}")
        except (RunError, ValueError) as exc:
            self._once(f"fetch{exc}", "fetch_failed", f"git fetch {REMOTE} {branch} failed "
                       f"({exc}): running {local[:12]}")
            return local
        if remote == local:
            return local
        dirty = repo.dirty_paths() if repo.checked_out() == branch else []
        if dirty:
            self._once(f"dirty{remote}", "dirty_tree", f"work tree has local changes "
                       f"({', '.join(dirty[:3])}): not fast-forwarding {branch} to "
                       f"{remote[:12]}; {local[:12]} keeps running")
            return local
        if not repo.is_ancestor(local, remote):
            self._once(f"diverged{remote}", "diverged", f"{branch} ({local[:12]}) and "
                       f"{REMOTE}/{branch} ({remote[:12]}) have diverged: never merging; "
                       f"{local[:12]} keeps running")
            return local
        repo.fast_forward(branch, remote)
        return remote

    def _follow(self) -> None:
        """Switch to a new commit's desired state, or refuse it and keep the last good."""
        try:
            commit = self._sync()
        except OtonomError as exc:
            self._event("git_error", f"git: {exc}")
            return
        if self.state is not None and commit == self.state.commit:
            return
        try:
            new = self._load(commit)
            self._connect(new)
        except OtonomError as exc:
            self._once(f"refused{commit}", "refused", f"refusing {commit and commit[:12]}: "
                       f"{exc}; {self.state.commit and self.state.commit[:12]} keeps running",
                       "error")
            return
        self._switch(new, commit)

    def _switch(self, new: DesiredState, commit: str | None) -> None:
        old = {r.entry.name: r for r in self.state.strategies} if self.state else {}
        self.state = new
        for run in new.strategies:
            before = old.get(run.entry.name)
            if before is None or before.version != run.version or before.entry != run.entry:
                self._event("version_switch", f"{run.entry.name}: now {run.entry.stage} "
                            f"{run.entry.capital_pct:g}% of {new.capital:g}, strategy version "
                            f"{run.version} at {commit and commit[:12]}", "info",
                            run.entry.name)
        for name, entry in list(self._failsafe.items()):
            now = next((r.entry for r in new.strategies if r.entry.name == name), None)
            if now != entry:
                del self._failsafe[name]
                self._event("failsafe_cleared", f"{name}: production.yaml changed for it at "
                            f"{commit and commit[:12]}: the fail-safe's local halt is lifted; "
                            "git rules again", "info", name)

    # -- the tick -------------------------------------------------------------------

    def tick(self) -> TickReport:
        self.report = TickReport()
        self._follow()
        try:
            reconcile.settle(self.journal, self.brokers)
        except BrokerError as exc:
            self._event("broker_error", f"settling open orders: {exc}")
        frames = {}
        for key, feed in self.feeds.items():
            try:
                frames[key] = feed.poll()
            except (OtonomError, OSError, ValueError) as exc:
                self._event("feed_error", f"feed {key}: {exc}")
        for run in self.state.strategies:
            key = self._feed_key(run)
            if key not in frames:
                continue
            try:
                self._bars(run, frames[key], self.feeds[key])
            except OtonomError as exc:  # inside the loop: an event, never a crash
                self._event("strategy_error", f"{run.entry.name}: {exc}", "error",
                            run.entry.name)
        if self.cfg.failsafe:
            self._watch()
        return self.report

    # -- the fail-safe --------------------------------------------------------------

    def _watch(self) -> None:
        """A live strategy whose monitor verdict turns ``rollback`` stops new entries at once
        (local reduce-only, until production.yaml changes for it) and gets a rollback pull
        request. The verdict is evaluated at most once a day of bars and once per
        ``verdict_every`` bars."""
        for run in self.state.strategies:
            e = run.entry
            last = self._last_bar.get(e.name)
            day, bars = self._verdict_at.get(e.name, (None, -self.cfg.verdict_every))
            seen = self._seen.get(e.name, 0)
            if e.stage != "live" or e.name in self._failsafe or last is None or \
                    day == last.date() or seen - bars < self.cfg.verdict_every:
                continue
            self._verdict_at[e.name] = (last.date(), seen)
            try:
                report = self._monitor(run)
            except OtonomError as exc:
                self._once(f"monitor{e.name}{exc}", "monitor_error", f"{e.name}: no verdict "
                           f"for the fail-safe: {exc}", deployment=e.name)
                continue
            if report.verdict.verdict != "rollback":
                continue
            self._failsafe[e.name] = e
            self._event("failsafe_halt", f"{e.name}: monitor verdict rollback ("
                        f"{'; '.join(report.verdict.reasons)}): new entries stopped at once "
                        "(local reduce-only) until production.yaml changes for it", "error",
                        e.name)
            if self._opens_prs():
                self._rollback_pull(run, report)
            else:
                self._event("failsafe_pr_skipped", f"{e.name}: no rollback pull request from "
                            "a replay (a simulation); `otonom daemon run --failsafe-prs` opens "
                            "one", "warning", e.name)

    def _restore_failsafe(self) -> None:
        """A fail-safe halt outlives a restart: a strategy's last journaled halt (not cleared
        since) holds again while its production.yaml entry is the one it was halted under; a
        changed entry lifts it, as it does while running. When that entry cannot be read
        back, the halt holds (the safe side) until the entry changes."""
        for run in self.state.strategies:
            e = run.entry
            last = self.journal.last_event(e.name, ("failsafe_halt", "failsafe_cleared"))
            if last is None or last["kind"] != "failsafe_halt":
                continue
            commit, then = last["commit_sha"], e
            if commit is not None and commit != self.state.commit:
                try:
                    then = next((r.entry for r in self._load(commit).strategies
                                 if r.entry.name == e.name), None)
                except OtonomError:
                    then = e
            at = f"{commit[:12]}" if commit else "the work tree"
            if then != e:
                self._event("failsafe_cleared", f"{e.name}: production.yaml changed for it "
                            f"since the fail-safe halted it at {at}: the halt is lifted; git "
                            "rules again", "info", e.name)
                continue
            self._failsafe[e.name] = e
            self._event("failsafe_restored", f"{e.name}: the fail-safe's halt of "
                        f"{last['at']:%Y-%m-%d %H:%M} UTC at {at} holds after the restart: "
                        "new entries stay stopped "
                        "(local reduce-only) until production.yaml changes for it", "error",
                        e.name)

    def _opens_prs(self) -> bool:
        if self.cfg.failsafe_prs is not None:
            return self.cfg.failsafe_prs
        return not (self.cfg.feed is None or self.cfg.feed.startswith("replay:"))

    def _monitor(self, run: Running):
        from otonom_trader.app.production.monitor import (
            expected_figures,
            strategy_monitor,
            thresholds_from,
        )

        params = Path(self.cfg.root) / self.cfg.params_path
        key = (run.entry.name, run.version)
        if key not in self._expected:
            self._expected[key] = expected_figures(run.strategy, self.cfg.data_dir, params)
        if self._thresholds[0] != self.state.commit or self._thresholds[1] is None:
            self._thresholds = (self.state.commit, thresholds_from(params))
        return strategy_monitor(run.entry, run.strategy, self.journal, self._thresholds[1],
                                self._expected[key])

    def _rollback_pull(self, run: Running, report) -> None:
        """Best effort: a failure is an event, never a crash."""
        from otonom_trader.app.production.rollout import RolloutRequest, rollout

        name = run.entry.name
        try:
            out = rollout(RolloutRequest("rollback", name, journal_url=self.cfg.journal_url,
                                         params_path=self.cfg.params_path,
                                         data_dir=self.cfg.data_dir,
                                         trigger="the daemon's fail-safe"),
                          cwd=self.cfg.root, report=report)
        except Exception as exc:  # best effort: the daemon keeps running
            self._event("failsafe_pr_failed", f"{name}: the rollback pull request could not "
                        f"be opened: {exc}", "error", name)
            return
        change, pub = out.change, out.change.result
        failed = pub.push_error or pub.pull_error
        where = (pub.pull.url if pub.pull else failed or f"no pull request opened (the body "
                 f"is in {change.body_path})")
        self._event("failsafe_pr", f"{name}: rollback {out.from_step} → {out.to_step} on "
                    f"{change.branch}: {where}", "warning" if failed else "info", name)

    def exhausted(self) -> bool:
        """Every feed is a replay that has released its last bar."""
        return all(getattr(f, "exhausted", False) for f in self.feeds.values())

    def _bars(self, run: Running, bars: pd.DataFrame, feed: Feed) -> None:
        name = run.entry.name
        last = self._last_bar.get(name)
        if last is None:
            stored = self.journal.last_bar(name)
            last = pd.Timestamp(stored) if stored is not None else None
        new = bars.index if last is None else bars.index[bars.index > last]
        if last is None and feed.start is None and len(new):
            new = new[-1:]  # a followed file: trading starts at its newest bar
        elif feed.start is not None:
            new = new[new >= feed.start]
        if not len(new):
            self._idle[name] = self._idle.get(name, 0) + 1
            if self._idle[name] == self.cfg.stall_after and not getattr(feed, "exhausted", 0):
                self._event("feed_stalled", f"{name}: no new {feed.symbol} bar for "
                            f"{self._idle[name]} ticks: no orders on stale data", deployment=name)
            return
        if self._idle.get(name, 0) >= self.cfg.stall_after:
            self._event("feed_recovered", f"{name}: {feed.symbol} bars are back", "info", name)
        self._idle[name] = 0
        for t in new:
            self._decide(run, bars.loc[:t], feed.symbol)
            self._last_bar[name] = t
            self._seen[name] = self._seen.get(name, 0) + 1

    def _decide(self, run: Running, bars: pd.DataFrame, symbol: str) -> None:
        e, t = run.entry, bars.index[-1]
        seg = self.state.segment(run)
        start = self.journal.first_bar(e.name, seg)
        commit = self.state.commit
        if start is None:
            self._flatten(run, bars, symbol)
        start = pd.Timestamp(start) if start is not None else t
        self.journal.tick(e.name, t.to_pydatetime(), commit, seg, e.stage)
        known = self.journal.known_ids(e.name)
        for o in engine_orders(run.strategy, bars, symbol, start, self.state.book_of(run),
                               self.cfg.data_dir):
            if o.bar_time != t:
                continue
            if o.opens and (e.halt or e.name in self._failsafe):
                why = "halt" if e.halt else "the fail-safe's local halt"
                self._event("halted", f"{e.name}: {why} (reduce-only): entry on "
                            f"{t:%Y-%m-%d} not sent", "info", e.name)
                continue
            entry_side = o.side if o.opens else ("sell" if o.side == "buy" else "buy")
            if not o.opens and client_order_id(e.name, seg, o.entry_time, entry_side,
                                               True) not in known:
                continue  # the engine's trade was never entered here (halt, a restart)
            cid = client_order_id(e.name, seg, t, o.side, o.opens)
            self._send(run, Intent(cid, e.name, run.version, commit, t.to_pydatetime(), symbol,
                                   o.side, o.qty, o.price, o.reason, e.stage, e.broker))
            known.add(cid)
        self._mark(run, symbol, bars)
        self.report.bars += 1

    def _flatten(self, run: Running, bars: pd.DataFrame, symbol: str) -> None:
        """A new segment (strategy version or book) starts flat: a position the previous
        one left is closed at the open of the new segment's first bar."""
        e, t = run.entry, bars.index[-1]
        held = sum(f["qty"] if f["side"] == "buy" else -f["qty"]
                   for f in self.journal.fills(e.name) if f["symbol"] == symbol)
        if abs(held) < 1e-12:
            return
        side = "sell" if held > 0 else "buy"
        self._event("version_flatten", f"{e.name}: closing {held:g} {symbol} left by the "
                    f"previous version at the open of {t:%Y-%m-%d}", "info", e.name)
        cid = client_order_id(e.name, self.state.segment(run), t, side, False)
        self._send(run, Intent(cid, e.name, run.version, self.state.commit, t.to_pydatetime(),
                               symbol, side, abs(held), float(bars["Open"].iloc[-1]),
                               "version_switch", e.stage, e.broker))

    def _send(self, run: Running, intent: Intent) -> None:
        if not self.journal.intend(intent):
            return  # journaled before (a restart re-deciding a bar): settled by reconcile
        self.report.orders += 1
        broker = self.brokers[run.entry.name]
        row = {**intent.__dict__, "client_order_id": intent.client_order_id}
        try:
            reconcile.send(self.journal, broker, row)
        except BrokerAmbiguous as exc:
            self.journal.set_status(intent.client_order_id, "ambiguous")
            self._event("broker_ambiguous", f"{run.entry.name}: {exc}; resolved by client id "
                        "at the next tick, never resent blindly", deployment=run.entry.name)
        except BrokerRejected as exc:
            self.journal.set_status(intent.client_order_id, "rejected")
            self._event("broker_rejected", f"{run.entry.name}: {exc}", "error", run.entry.name)
        except BrokerError as exc:
            self._event("broker_error", f"{run.entry.name}: {exc}; the order stays journaled "
                        "and is sent at the next tick", deployment=run.entry.name)

    def _mark(self, run: Running, symbol: str, bars: pd.DataFrame) -> None:
        broker, close = self.brokers[run.entry.name], float(bars["Close"].iloc[-1])
        try:
            if hasattr(broker, "equity_at"):
                equity = broker.equity_at({symbol: close})
            else:
                equity = broker.account().equity
            held = {p.symbol: p for p in broker.positions()}
        except BrokerError as exc:
            self._event("broker_error", f"{run.entry.name}: marking: {exc}",
                        deployment=run.entry.name)
            return
        p = held.get(symbol)
        self.journal.mark(run.entry.name, bars.index[-1].to_pydatetime(), equity, symbol,
                          p.qty if p else 0.0, p.avg_entry_price if p else 0.0)

    def close(self) -> None:
        if self.repo is not None:
            self.repo.close()
        self.journal.close()

