"""``apply``: execute a plan with the deploy package, in phases.

1. leftovers of an interrupted apply: VMs whose deploy was cut short are removed, a
   predecessor still running next to its healthy replacement is retired;
2. images: each target generation built (or found in the cache) once, ``build_jobs`` at a time;
3. placement: each image put on each host that needs it once, all hosts at once;
4. rollout: create, replace and start, ``max_parallel`` VMs at a time and at most ``per_host``
   on one host; a replacement is a new VM (``NAME-gN``, like redeploy) that must answer SSH
   and pass its health command before the old VM is retired (kept for rollback);
5. on a failure the rollout stops (VMs not started yet are skipped) and every VM this apply
   replaced is rolled back and every VM it created removed, unless ``keep_going``;
6. removals (``--prune``) last, when nothing failed.

Every step is written to the audit log under the apply's id (``vmfleet log --apply ID``), and
the apply itself to ``fleet_applies`` (status ``running`` first): an apply killed at any point
leaves a row that ``plan`` reports as interrupted and VMs the next plan sees as leftovers,
which the next apply cleans up before it does the rest.

Each worker thread opens its own registry connection (sqlite3 connections are per thread).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vmfleet import timeutil
from vmfleet.deploy import lifecycle, rollout, vm_access
from vmfleet.deploy.lineage import lineages
from vmfleet.deploy.placement import Image
from vmfleet.deploy.vm_records import (
    DEFAULT_TIMEOUT,
    AuditEntry,
    Options,
    acting_user,
    audit_entry,
    find_vm,
    get_vm,
    list_vms,
)
from vmfleet.errors import DeployError, LibvirtError, UsageError, VmfleetError
from vmfleet.fleet import plan as plan_mod
from vmfleet.fleet.plan import Action, Plan, Step
from vmfleet.home import Home
from vmfleet.registry import audit as audit_rows
from vmfleet.registry import fleet as fleet_rows
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import get as get_generation
from vmfleet.tools import locks

Progress = Callable[[str, str], None]  # (fleet VM name, what happens now)
DEFAULT_HEALTH_TIMEOUT = 60.0
# The shell's statuses for a command that cannot run (POSIX 2.8.2: 127 not found, 126 found
# but not executable): not a service still starting, so not retried.
CANNOT_RUN = (126, 127)


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str
    result: str               # done, failed, skipped, rolled back, removed, unknown
    vm: str | None            # what runs for it now
    generation: str | None
    host: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class ApplyResult:
    apply_id: str
    status: str               # succeeded, partial, failed, rolled-back, nothing to do
    outcomes: tuple[Outcome, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "nothing to do")


def _quiet(_name: str, _text: str) -> None:
    pass


def check_fresh(saved: Plan, now: Plan) -> None:
    """A saved plan may only run while nothing it was made from changed."""
    if saved.fleet_sha256 != now.fleet_sha256:
        raise UsageError(f"the fleet file changed since this plan was made ({saved.fleet})",
                         "make the plan again: vmfleet plan --out FILE")
    if saved.fingerprint != now.fingerprint:
        changed = [s.name for s, n in zip(saved.steps, now.steps, strict=False)
                   if (s.action, s.vm, s.target_generation_id) != (n.action, n.vm,
                                                                   n.target_generation_id)]
        raise UsageError("what runs changed since this plan was made"
                         + (f" ({', '.join(changed[:5])})" if changed else ""),
                         "make the plan again: vmfleet plan --out FILE")


def check_downgrades(plan: Plan, allow_downgrade: bool) -> None:
    """The one downgrade rule (as redeploy and rollback): a plan that moves a VM to an older
    generation runs only with ``--allow-downgrade``."""
    down = [s for s in plan.steps if s.downgrade and s.action in plan_mod.CHANGES]
    if down and not allow_downgrade:
        shown = ", ".join(f"{s.name} ({s.current} → {s.target})" for s in down[:5])
        more = f" and {len(down) - 5} more" if len(down) > 5 else ""
        raise UsageError(f"the plan goes back to older generations: {shown}{more}",
                         "going back to an older generation needs --allow-downgrade")


def apply(reg: Registry, home: Home, plan: Plan, *, max_parallel: int = 4, per_host: int = 2,
          build_jobs: int = 2, keep_going: bool = False, timeout: float = DEFAULT_TIMEOUT,
          health_timeout: float = DEFAULT_HEALTH_TIMEOUT, builder: str | None = None,
          allow_downgrade: bool = False, progress: Progress = _quiet) -> ApplyResult:
    check_downgrades(plan, allow_downgrade)
    for flag, value in (("--max-parallel", max_parallel), ("--max-per-host", per_host),
                        ("--build-jobs", build_jobs)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1", f"e.g. {flag} 2")
    if home.registry is None or not Path(home.registry).exists():
        raise UsageError("apply needs a registry file", "run 'vmfleet init'")
    with locks.lock(home, plan_mod.APPLY_LOCK, wait=False,
                    busy="another 'vmfleet apply' is running"):
        return _Run(reg, home, plan, max_parallel, per_host, build_jobs, keep_going, timeout,
                    health_timeout, builder, progress).execute()


class _Run:
    def __init__(self, reg, home, plan, max_parallel, per_host, build_jobs, keep_going, timeout,
                 health_timeout, builder, progress):
        self.reg, self.home, self.plan = reg, home, plan
        self.max_parallel, self.per_host, self.build_jobs = max_parallel, per_host, build_jobs
        self.keep_going, self.timeout, self.health_timeout = keep_going, timeout, health_timeout
        self.builder = builder
        self._progress = progress
        self.id = "a" + timeutil.now().replace("-", "").replace(":", "").lower().rstrip("z") \
            + "-" + secrets.token_hex(2)
        self.lock = threading.Lock()
        self.outcomes: dict[str, Outcome] = {}
        self.failed = threading.Event()
        self.images: dict[int, Image] = {}
        self.image_errors: dict[int, str] = {}
        self.replaced: list[tuple[Step, str]] = []   # (step, new VM) for rollback
        self.created: list[tuple[Step, str]] = []
        self.began: dict[str, float] = {}  # when work on each VM began: its time in the summary
        self.started = time.monotonic()

    # --- bookkeeping -------------------------------------------------------------------------
    def progress(self, name: str, text: str) -> None:
        with self.lock:
            self._progress(name, text)

    def audit(self, reg: Registry, action: str, vm: str | None, from_gen: int | None,
              to_gen: int | None, detail: str = "") -> None:
        with reg.write():
            audit_rows.add(reg, at=timeutil.now(), user=acting_user(), action=f"apply-{action}",
                           vm=vm, from_generation_id=from_gen, to_generation_id=to_gen,
                           detail=detail, apply_id=self.id)

    def outcome(self, step: Step, result: str, vm: str | None, generation: str | None,
                t0: float, detail: str = "") -> None:
        with self.lock:
            self.outcomes[step.name] = Outcome(step.name, step.action.value, result, vm,
                                               generation, step.host,
                                               round(time.monotonic() - t0, 1), detail)
        self.progress(step.name, f"{result}" + (f": {detail}" if detail else ""))

    # --- the phases --------------------------------------------------------------------------
    def execute(self) -> ApplyResult:
        reg = self.reg
        with reg.write():
            fleet_rows.begin_apply(reg, apply_id=self.id, started=timeutil.now(), user=acting_user(),
                                   fleet=self.plan.fleet, fingerprint=self.plan.fingerprint,
                                   plan=json.dumps(plan_mod.to_json(self.plan)))
        self.audit(reg, "start", None, None, None,
                   f"{self.plan.fleet}: " + ", ".join(f"{n} {a}" for a, n in
                                                      self.plan.counts().items() if n))
        status = "failed"
        try:
            todo = [s for s in self.plan.steps if s.action in plan_mod.CHANGES]
            for s in self.plan.steps:
                if s.action is Action.KEEP:
                    self.outcome(s, "kept", s.vm, s.current, time.monotonic())
                elif s.action is Action.UNKNOWN:
                    self.outcome(s, "unknown", s.vm, s.current, time.monotonic(), s.note)
            if not todo:
                status = self._unless_partial("nothing to do")
                return self._result(status)
            self._leftovers(todo)
            rolled = [s for s in todo if s.action in (Action.CREATE, Action.REPLACE, Action.START)]
            new_vms = [s for s in rolled if s.action is not Action.START and not s.reuse]
            self._build(new_vms)
            self._place(new_vms)
            self._rollout(rolled)
            if self.failed.is_set() and not self.keep_going:
                self._roll_back()
                status = "rolled-back"
            else:
                self._remove([s for s in todo if s.action is Action.REMOVE])
                status = "failed" if self.failed.is_set() else self._unless_partial("succeeded")
            return self._result(status)
        except BaseException:
            status = "interrupted"
            raise
        finally:
            with contextlib.suppress(VmfleetError), reg.write():
                summary = ", ".join(f"{o.name} {o.result}" for o in self.outcomes.values())
                fleet_rows.end_apply(reg, self.id, status=status, finished=timeutil.now(),
                                     summary=summary)
            with contextlib.suppress(VmfleetError):
                self.audit(reg, "end", None, None, None, status)

    def _unless_partial(self, status: str) -> str:
        """``partial`` when some VM was not brought to its declared state (its host did not
        answer, another vmfleet command held it, or it was skipped): never a success."""
        if any(o.result in ("unknown", "skipped") for o in self.outcomes.values()):
            return "partial"
        return status

    def _result(self, status: str) -> ApplyResult:
        order = {s.name: i for i, s in enumerate(self.plan.steps)}
        outcomes = sorted(self.outcomes.values(), key=lambda o: order.get(o.name, 0))
        return ApplyResult(self.id, status, tuple(outcomes),
                           round(time.monotonic() - self.started, 1))

    def _leftovers(self, steps: list[Step]) -> None:
        """What an interrupted apply left: half-made VMs removed, old ones next to healthy
        replacements retired (before anything new is made)."""
        for s in steps:
            if s.action is Action.REMOVE:
                continue
            for name in s.discard:
                self.progress(s.name, f"removing {name} (left by an interrupted apply)")
                if find_vm(self.reg, name) is not None:
                    lifecycle.destroy(self.reg, self.home, name)
                self.audit(self.reg, "discard", name, None, None, "left by an interrupted apply")
            for name in s.retire:
                self.progress(s.name, f"retiring {name} (left running by an interrupted apply)")
                lifecycle.retire(self.reg, self.home, name)
                self.audit(self.reg, "retire", name, None, None,
                           f"replaced by {s.vm} (finishing an interrupted apply)")
            if s.action is Action.FINISH:
                self.outcome(s, "done", s.vm, s.current, time.monotonic(), "cleaned up")

    def _build(self, steps: list[Step]) -> None:
        from vmfleet.build import builds

        wanted = sorted({s.target_id for s in steps})
        names = {g: [s.name for s in steps if s.target_id == g] for g in wanted}

        def one(gen_id: int) -> None:
            reg = Registry.open(self.home.registry)
            try:
                gen = get_generation(reg, gen_id)
                for n in names[gen_id]:
                    self.progress(n, f"image of {gen.label}: building or reusing")
                built = builds.ensure_image(reg, self.home, gen, builder=self.builder)
                self.images[gen_id] = Image(*builds.stored_image(built))
                self.audit(reg, "image", None, None, gen_id,
                           f"{gen.label}: {self.images[gen_id].sha256[:12]}"
                           + (" (cached)" if getattr(built, "cached", False) else ""))
            except VmfleetError as e:
                self.image_errors[gen_id] = e.message
                with contextlib.suppress(VmfleetError):
                    self.audit(reg, "image", None, None, gen_id, f"failed: {e.message}")
            finally:
                reg.close()

        _parallel(one, wanted, self.build_jobs)

    def _place(self, steps: list[Step]) -> None:
        # Once per (host, image): generations with the same inputs share one image.
        by_host: dict[str, dict[str, list[Step]]] = {}
        for s in steps:
            if s.target_generation_id in self.images:
                sha = self.images[s.target_id].sha256
                by_host.setdefault(s.host, {}).setdefault(sha, []).append(s)
        self.place_errors: dict[tuple[str, int], str] = {}

        def one(host: str) -> None:
            reg = Registry.open(self.home.registry)
            try:
                for _sha, users in sorted(by_host[host].items()):
                    image = self.images[users[0].target_id]
                    for s in users:
                        self.progress(s.name, f"placing the image on {host}")
                    try:
                        where = lifecycle.place_image(reg, self.home, host, image)
                        self.audit(reg, "place", None, None, users[0].target_generation_id,
                                   f"on {host}: {where}")
                    except VmfleetError as e:
                        for s in users:
                            self.place_errors[(host, s.target_id)] = e.message
            finally:
                reg.close()

        _parallel(one, sorted(by_host), len(by_host) or 1)

    def _rollout(self, steps: list[Step]) -> None:
        host_slots = {h: threading.BoundedSemaphore(self.per_host) for h in {s.host for s in steps}}
        # Round-robin over hosts, so a worker waiting for a host's slot is rare.
        queues: dict[str, list[Step]] = {}
        for s in steps:
            queues.setdefault(s.host, []).append(s)
        ordered = []
        while any(queues.values()):
            for h in sorted(queues):
                if queues[h]:
                    ordered.append(queues[h].pop(0))
        for s in ordered:
            self.progress(s.name, "waiting")

        def one(step: Step) -> None:
            with host_slots[step.host]:
                self._one(step)

        _parallel(one, ordered, self.max_parallel)

    def _one(self, step: Step) -> None:
        t0 = time.monotonic()
        with self.lock:
            self.began[step.name] = t0
        if self.failed.is_set() and not self.keep_going:
            self.outcome(step, "skipped", step.vm, step.current, t0, "an earlier VM failed")
            return
        if step.action is not Action.START and not step.reuse:
            problem = (self.image_errors.get(step.target_id)
                       or self.place_errors.get((step.host, step.target_id)))
            if problem:
                self.failed.set()
                self.outcome(step, "failed", step.vm, step.current, t0, problem)
                return
        reg = Registry.open(self.home.registry)
        try:
            if step.action is Action.START:
                self._start(reg, step, t0)
            elif step.action is Action.CREATE:
                self._create(reg, step, t0)
            elif step.reuse:
                self._bring_back(reg, step, t0)
            else:
                self._replace(reg, step, t0)
        except VmfleetError as e:
            self.failed.set()
            self.outcome(step, "failed", step.vm, step.current, t0, e.message)
        finally:
            reg.close()

    def _options(self, step: Step) -> Options:
        default = Options()
        return Options(memory_mib=step.memory_mib or default.memory_mib,
                       vcpus=step.vcpus or default.vcpus, accel=step.accel,
                       wait=True, timeout=self.timeout)

    def _start(self, reg: Registry, step: Step, t0: float) -> None:
        self.progress(step.name, f"starting {step.vm}")
        lifecycle.start(reg, self.home, step.running, timeout=self.timeout,
                        notify=lambda m: self.progress(step.name, m))
        self._health(reg, step, step.running)
        self.audit(reg, "start", step.vm, None, step.current_generation_id)
        self.outcome(step, "done", step.vm, step.current, t0, "started")

    def _create(self, reg: Registry, step: Step, t0: float) -> None:
        gen = get_generation(reg, step.target_id)
        lineage = lineages(list_vms(reg)).get(step.name)
        previous = lineage.members[-1].name if lineage else None
        name = step.name if find_vm(reg, step.name) is None else rollout.replacement_name(
            reg, step.name, gen.number)
        self.progress(step.name, f"deploying {name} ({gen.label}) on {step.host}")
        self._deploy(reg, step, gen, name, previous)
        try:
            self._health(reg, step, name)
        except BaseException:
            self._discard(reg, name)
            raise
        with self.lock:
            self.created.append((step, name))
        self.audit(reg, "create", name, None, gen.id, f"on {step.host}")
        self.outcome(step, "done", name, gen.label, t0, f"created on {step.host}")

    def _replace(self, reg: Registry, step: Step, t0: float) -> None:
        gen = get_generation(reg, step.target_id)
        old = get_vm(reg, step.running)
        new = rollout.replacement_name(reg, step.name, gen.number)
        self.progress(step.name, f"deploying {new} ({gen.label}) on {step.host}")
        try:
            self._deploy(reg, step, gen, new, old.name)
            self._health(reg, step, new)
        except BaseException:
            self._discard(reg, new)
            raise
        self.progress(step.name, f"retiring {old.name}")
        lifecycle.retire(reg, self.home, old.name)
        with self.lock:
            self.replaced.append((step, new))
        self.audit(reg, "replace", new, old.generation_id, gen.id,
                   f"replaces {old.name} on {step.host}")
        self.outcome(step, "done", new, gen.label, t0, f"{old.label} → {gen.label}")

    def _bring_back(self, reg: Registry, step: Step, t0: float) -> None:
        """A replace whose target is a retired VM of the lineage (plan's ``reuse``): it boots from
        its kept overlay and must answer SSH (rollout.rollback) and its health command before
        the running VM is retired; otherwise the running one comes back."""
        gen = get_generation(reg, step.target_id)
        old = get_vm(reg, step.running)
        reuse = step.reuse or ""
        notify = functools.partial(self.progress, step.name)
        self.progress(step.name, f"bringing back {reuse} ({gen.label}), retired")
        try:
            # downgrades were allowed or refused for the whole plan (check_downgrades)
            rollout.rollback(reg, self.home, reuse, timeout=self.timeout, allow_downgrade=True,
                             notify=notify)
            try:
                self._health(reg, step, reuse)
            except BaseException:
                with contextlib.suppress(VmfleetError):   # the health failure is what is said
                    rollout.rollback(reg, self.home, old.name, timeout=self.timeout,
                                     allow_downgrade=True, notify=notify)
                raise
        except VmfleetError as e:
            # never offered again: the next plan makes a new VM (plan._reusable)
            self.audit(reg, "bring-back", reuse, None, gen.id, f"failed: {e.message}")
            raise
        with self.lock:
            self.replaced.append((step, reuse))
        self.audit(reg, "replace", reuse, old.generation_id, gen.id,
                   f"brought back in place of {old.name} on {step.host}")
        self.outcome(step, "done", reuse, gen.label, t0,
                     f"{old.label} → {gen.label} (brought back {reuse})")

    def _deploy(self, reg: Registry, step: Step, gen, name: str, replaces: str | None) -> None:
        """deploy_image, once more after removing a stray domain of the same name: a vmfleet
        killed while libvirtd was defining its domain leaves a domain that appears only after
        the leftover's record was removed (defines take tens of seconds on some hosts)."""
        for attempt in (1, 2):
            try:
                lifecycle.deploy_image(reg, self.home, gen, self.images[gen.id], name=name,
                                       host=step.host, options=self._options(step),
                                       replaces=replaces, audit=None,
                                       notify=lambda m: self.progress(step.name, m))
                return
            except LibvirtError as e:
                if attempt == 2 or "already exists" not in e.message:
                    raise
                self.progress(step.name, f"a stray domain {name} (left by an interrupted "
                              "apply) is in the way: removing it")
                lifecycle.destroy(reg, self.home, name)  # the failed record and that domain
                self.audit(reg, "discard", name, None, None, "stray domain of an interrupted "
                           "apply")

    def _discard(self, reg: Registry, name: str) -> None:
        vm = find_vm(reg, name)
        if vm is None:
            return
        with contextlib.suppress(VmfleetError):
            lifecycle.destroy(reg, self.home, name)
            self.audit(reg, "discard", name, None, vm.generation_id, "failed: removed")

    def _health(self, reg: Registry, step: Step, name: str) -> None:
        if not step.health:
            return
        self.progress(step.name, f"health check: {step.health}")
        deadline = time.monotonic() + self.health_timeout
        last = ""
        while True:
            try:
                with vm_access.connect_ssh(reg, self.home, name, timeout=15) as conn:
                    rc, out, err = conn.run(step.health, timeout=self.health_timeout)
                if rc == 0:
                    self.audit(reg, "health", name, None, None, f"passed: {step.health}")
                    return
                tail = (err or out).strip().splitlines()[-1:] or ["(no output)"]
                last = f"exit {rc}: {tail[0]}"
            except VmfleetError as e:
                rc, last = None, e.message
            if rc in CANNOT_RUN or time.monotonic() >= deadline:
                self.audit(reg, "health", name, None, None, f"failed: {step.health}: {last}")
                if rc in CANNOT_RUN:  # waiting does not make a missing program appear
                    raise DeployError(f"health check of {name} cannot run: {step.health!r}: "
                                      f"{last}", "fix the VM's health command in the fleet "
                                      f"file (try it: 'vmfleet ssh {name} -- {step.health}')")
                raise DeployError(f"health check of {name} failed: {step.health!r}: {last}",
                                  f"see 'vmfleet ssh {name} -- {step.health}'; raise "
                                  "--health-timeout if the service is only slow to start")
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

    def _roll_back(self) -> None:
        """Undo what this apply changed: replaced VMs come back, created ones go."""
        for step, new in reversed(self.replaced):
            t0 = self.began.get(step.name, time.monotonic())  # its deploy, health and rollback
            self.progress(step.name, f"rolling back to {step.vm}")
            try:
                rollout.rollback(self.reg, self.home, step.running, timeout=self.timeout,
                                 allow_downgrade=True,  # undoing its own change
                                 notify=functools.partial(self.progress, step.name))
                self.audit(self.reg, "rollback", step.vm, step.target_generation_id,
                           step.current_generation_id, f"{new} retired")
                self.outcome(step, "rolled back", step.vm, step.current, t0,
                             f"{new} retired, {step.vm} runs again")
            except VmfleetError as e:
                self.outcome(step, "failed", new, step.target, t0,
                             f"rollback to {step.vm} failed: {e.message}")
        for step, name in reversed(self.created):
            t0 = self.began.get(step.name, time.monotonic())
            self.progress(step.name, f"removing {name} (rollback)")
            try:
                lifecycle.destroy(self.reg, self.home, name)
                self.audit(self.reg, "rollback", name, step.target_generation_id, None,
                           "created by this apply: removed")
                self.outcome(step, "rolled back", None, None, t0, f"{name} removed")
            except VmfleetError as e:
                self.outcome(step, "failed", name, step.target, t0, e.message)

    def _remove(self, steps: list[Step]) -> None:
        for step in steps:
            t0 = time.monotonic()
            try:
                for name in (*step.discard, *([step.vm] if step.vm else [])):
                    if find_vm(self.reg, name) is not None:
                        self.progress(step.name, f"removing {name}")
                        lifecycle.destroy(self.reg, self.home, name)
                        self.audit(self.reg, "remove", name, None, None, "not in the fleet")
                self.outcome(step, "removed", None, None, t0)
            except VmfleetError as e:
                self.failed.set()
                self.outcome(step, "failed", step.vm, step.current, t0, e.message)


def _parallel(fn, items, workers: int) -> None:
    """Run ``fn`` over ``items`` on ``workers`` threads; the first exception that is not a
    VmfleetError (a bug, or Ctrl-C) is raised after the others finished."""
    if not items:
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        futures = [pool.submit(fn, item) for item in items]
        for f in futures:
            f.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # those started finish (and record it)
        raise
    pool.shutdown(wait=True)



# --- the audit of applies -----------------------------------------------------------------------

@dataclass(frozen=True)
class ApplyRecord:
    id: str
    started: str
    finished: str | None
    status: str
    user: str
    fleet: str
    summary: str


def list_applies(reg: Registry, home: Home) -> list[ApplyRecord]:
    """Every apply, oldest first; one recorded as running that nobody runs is 'interrupted'."""
    running = locks.is_locked(home, plan_mod.APPLY_LOCK)
    out = []
    for r in fleet_rows.applies(reg):
        status = r["status"]
        if status == "running" and not running:
            status = "interrupted"
        out.append(ApplyRecord(r["id"], r["started"], r["finished"], status, r["user"],
                               r["fleet"], r["summary"]))
    return out


def apply_log(reg: Registry, apply_id: str) -> list[AuditEntry]:
    """The audit entries of one apply (an id, or a unique prefix of one)."""
    rows = fleet_rows.apply_ids(reg, apply_id)
    if len(rows) != 1:
        known = fleet_rows.apply_ids(reg, newest=5)
        raise UsageError(f"{'no' if not rows else 'more than one'} apply matches {apply_id!r}",
                         "recent applies: " + (", ".join(known) or "none") +
                         " (vmfleet fleet applies)")
    return [audit_entry(r) for r in audit_rows.entries(reg, apply_id=rows[0])]
