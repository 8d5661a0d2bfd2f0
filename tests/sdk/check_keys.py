"""DCS's key analyses through Huawei's Python SDK: big-key and hot-key tasks (list, details,
create and follow one to its end), offline analyses of backups, and the running instances'
statistics. Run from check_sdk.py, against the simulator's default topology: an instance whose
`maxmemory-policy` is LFU (hot-key analyses run) and a Proxy Cluster one (they are refused, and
big keys name their shard).
"""

import re
import time

from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdcs.v2 import (
    CreateBigkeyScanTaskRequest, CreateHotkeyScanTaskRequest, ListBigkeyScanTasksRequest,
    ListConfigurationsRequest, ListHotKeyScanTasksRequest, ListOfflineKeyAnalysisTaskRequest,
    ListStatisticsOfRunningInstancesRequest, ShowBigkeyScanTaskDetailsRequest,
    ShowHotkeyTaskDetailsRequest, ShowInstanceRequest, ShowOfflineKeyAnalysisTaskRequest)

from checking import expect, expect_error

TASK_TIMEOUT_S = 10.0  # every task wait gives up after this long
POLL_S = 0.05
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")
STATUSES = ("waiting", "running", "success", "failed")
TYPES = {"string", "list", "set", "zset", "hash"}
LFU = ("allkeys-lfu", "volatile-lfu")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_record(t, with_scan_type=True):
    """One task of a list: typed, times in the documented format, present as far as reached."""
    expect(isinstance(t.id, str) and t.id, f"id {t.id!r}")
    expect(t.status in STATUSES, f"status {t.status!r}")
    if with_scan_type:
        expect(t.scan_type in ("manual", "auto"), f"scan_type {t.scan_type!r}")
    expect(TIME.match(t.created_at or ""), f"created_at {t.created_at!r}")
    if t.status in ("success", "failed"):
        for at in (t.started_at, t.finished_at):
            expect(TIME.match(at or ""), f"{t.status} task: time {at!r}")
        expect(t.created_at[:19] <= t.started_at[:19] <= t.finished_at[:19],
               f"times out of order: {t.created_at} {t.started_at} {t.finished_at}")
    else:
        expect(t.finished_at is None, f"{t.status} task has finished_at {t.finished_at!r}")


def check_keys(keys, clustered, hot):
    """The keys of a big-key or hot-key analysis."""
    expect(len(keys) <= 100, f"{len(keys)} keys > 100")
    for k in keys:
        expect(isinstance(k.name, str) and k.name, f"name {k.name!r}")
        expect(k.type in TYPES, f"type {k.type!r}")
        expect(k.unit == ("byte" if k.type == "string" else "count"), f"{k.type} in {k.unit!r}")
        expect(is_int(k.size) and k.size > 0 and is_int(k.db) and k.db >= 0, f"untyped key {k}")
        if clustered:
            expect(isinstance(k.shard, str) and re.match(r"^[\d.]+:\d+$", k.shard),
                   f"shard {k.shard!r}")
        else:
            expect(k.shard is None, f"shard {k.shard!r} on an instance without shards")
        if hot:
            expect(is_int(k.freq) and 0 <= k.freq <= 255, f"freq {k.freq!r}")


class Keys:
    """One instance's analyses through the SDK, big or hot."""

    def __init__(self, dcs, instance_id, hot):
        self.dcs, self.iid, self.hot = dcs, instance_id, hot

    def list(self, **query):
        request = ListHotKeyScanTasksRequest if self.hot else ListBigkeyScanTasksRequest
        call = self.dcs.list_hot_key_scan_tasks if self.hot else self.dcs.list_bigkey_scan_tasks
        return call(request(instance_id=self.iid, **query))

    def show(self, task_id):
        if self.hot:
            return self.dcs.show_hotkey_task_details(
                ShowHotkeyTaskDetailsRequest(instance_id=self.iid, hotkey_id=task_id))
        return self.dcs.show_bigkey_scan_task_details(
            ShowBigkeyScanTaskDetailsRequest(instance_id=self.iid, bigkey_id=task_id))

    def create(self):
        if self.hot:
            return self.dcs.create_hotkey_scan_task(
                CreateHotkeyScanTaskRequest(instance_id=self.iid))
        return self.dcs.create_bigkey_scan_task(CreateBigkeyScanTaskRequest(instance_id=self.iid))

    def wait(self, task_id):
        """Polls a task until it ends; returns its details and the statuses seen, in order."""
        seen = []
        deadline = time.monotonic() + TASK_TIMEOUT_S
        while True:
            task = self.show(task_id)
            expect(task.id == task_id, f"id {task.id!r}, want {task_id!r}")
            if not seen or seen[-1] != task.status:
                seen.append(task.status)
            if task.status in ("success", "failed"):
                return task, seen
            expect(time.monotonic() < deadline, f"task not done after {TASK_TIMEOUT_S}s: {seen}")
            time.sleep(POLL_S)


def instance_facts(dcs, instances):
    """Each instance's id, whether it has shards (big keys name theirs) and LFU counters."""
    facts = []
    for inst in instances:
        details = dcs.show_instance(ShowInstanceRequest(instance_id=inst.instance_id))
        configs = dcs.list_configurations(ListConfigurationsRequest(instance_id=inst.instance_id))
        policy = {p.param_name: p.param_value for p in configs.redis_config}["maxmemory-policy"]
        spec = details.spec_code or ""
        facts.append((inst.instance_id, "cluster" in spec or "proxy" in spec, policy in LFU))
    expect({(c, l) for _, c, l in facts} >= {(False, True), (True, False)},
           f"want an LFU instance without shards and a clustered one without LFU: {facts}")
    return facts


def check_key_analyses(r, dcs, instances):
    """12. DCS's key analyses and the running instances' statistics."""
    facts = r.check("key analyses: instances with and without shards and LFU",
                    lambda: instance_facts(dcs, instances), instances)

    def task_lists(hot):
        for iid, _, lfu in facts:
            keys = Keys(dcs, iid, hot)
            whole = keys.list(offset=0, limit=1000)
            expect(whole.instance_id == iid and is_int(whole.count), f"page {whole}")
            records = whole.records or []
            expect(len(records) == whole.count, f"{len(records)} records, count {whole.count}")
            if hot and not lfu:
                continue
            expect(records, "no analyses to read")
            for t in records:
                check_record(t)
            walked = []
            for offset in range(whole.count):
                page = keys.list(offset=offset, limit=1)
                expect(page.count == whole.count, f"offset {offset}: count {page.count}")
                walked.extend(t.id for t in page.records)
            expect(walked == [t.id for t in records], "limit=1 pages differ from one page")
            statuses = {t.status for t in records}
            expect({"success"} <= statuses, f"statuses {statuses}")
            for status in statuses:
                only = keys.list(status=status, limit=100)
                expect(only.records and all(t.status == status for t in only.records),
                       f"status={status} let others through")
            created = [t.created_at for t in records]
            expect(created != sorted(created, reverse=True) or len(created) < 3,
                   "listed newest first: the simulator must leave the sorting to the client")
            for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "done"}):
                expect_error(lambda b=bad: keys.list(**b), ClientRequestException, 400, "DCS.4800")

    r.check("list_bigkey_scan_tasks: typed records, pages, status filter, bad queries -> 400",
            lambda: task_lists(False), facts)
    r.check("list_hot_key_scan_tasks: typed records, pages, status filter, bad queries -> 400",
            lambda: task_lists(True), facts)

    def finished_details(hot):
        for iid, clustered, lfu in facts:
            keys = Keys(dcs, iid, hot)
            expect_error(lambda k=keys: k.show("no-such-task"), ClientRequestException, 400,
                         "DCS.4941" if hot else "DCS.4942")
            if hot and not lfu:
                continue
            for t in keys.list(limit=1000).records:
                task = keys.show(t.id)
                expect((task.id, task.status, task.created_at) == (t.id, t.status, t.created_at),
                       f"details differ from the list: {task.id} {task.status}")
                expect(task.instance_id == iid, f"instance_id {task.instance_id!r}")
                found = task.keys or []
                expect(task.num == len(found), f"num {task.num}, {len(found)} keys")
                if t.status != "success":
                    expect(not found, f"a {t.status} analysis with keys")
                    continue
                expect(found, "a successful analysis without keys")
                check_keys(found, clustered, hot)
                if hot:
                    freqs = [k.freq for k in found]
                    expect(freqs == sorted(freqs, reverse=True), f"not hottest first: {freqs}")
                else:
                    strings = sum(1 for k in found if k.type == "string")
                    expect(strings <= 20 and len(found) - strings <= 80,
                           f"{strings} strings, {len(found) - strings} collections")

    r.check("show_bigkey_scan_task_details: <= 20 strings and 80 collections, units, shards; "
            "unknown id -> 400 DCS.4942", lambda: finished_details(False), facts)
    r.check("show_hotkey_task_details: LFU counters 0-255, hottest first; "
            "unknown id -> 400 DCS.4941", lambda: finished_details(True), facts)

    def create_and_follow(hot):
        for iid, clustered, lfu in facts:
            keys = Keys(dcs, iid, hot)
            if hot and not lfu:
                expect_error(keys.create, ClientRequestException, 400, "DCS.4922")
                continue
            created = keys.create()
            expect(created.status == "waiting" and created.scan_type == "manual",
                   f"created {created.status} {created.scan_type}")
            expect(created.instance_id == iid and TIME.match(created.created_at or ""),
                   f"created {created}")
            expect_error(keys.create, ClientRequestException, 400,
                         "DCS.4957" if hot else "DCS.4918")
            task, seen = keys.wait(created.id)
            expect(seen[-1] == "success", f"statuses {seen}")
            expect(seen == [s for s in ("waiting", "running", "success") if s in seen],
                   f"statuses out of order: {seen}")
            check_record(task)
            check_keys(task.keys or [], clustered, hot)
            expect(task.keys and task.num == len(task.keys), f"num {task.num}")
            listed = [t.id for t in keys.list(limit=1000).records]
            expect(created.id in listed, "the new task is not listed")

    r.check("create_bigkey_scan_task: waiting -> running -> success, keys; "
            "a second one -> 400 DCS.4918", lambda: create_and_follow(False), facts)
    r.check("create_hotkey_scan_task: under LFU to success (a second -> 400 DCS.4957); "
            "otherwise 400 DCS.4922", lambda: create_and_follow(True), facts)

    def offline():
        big = False
        for iid, clustered, _ in facts:
            page = dcs.list_offline_key_analysis_task(
                ListOfflineKeyAnalysisTaskRequest(instance_id=iid, offset=0, limit=100))
            expect(is_int(page.total) and page.total == len(page.records or []) > 0,
                   f"total {page.total}, {len(page.records or [])} records")
            for t in page.records:
                check_record(t, with_scan_type=False)
                if t.status != "success":
                    continue
                a = dcs.show_offline_key_analysis_task(
                    ShowOfflineKeyAnalysisTaskRequest(instance_id=iid, task_id=t.id))
                expect(a.id == t.id and a.instance_id == iid, f"analysis {a.id} of {a.instance_id}")
                expect(a.node_id and a.backup_id and a.analysis_type in ("new_backup", "old_backup"),
                       f"node {a.node_id!r} backup {a.backup_id!r} type {a.analysis_type!r}")
                expect((a.group_name is not None) == clustered, f"group_name {a.group_name!r}")
                expect(is_int(a.total_bytes) and is_int(a.total_num), "untyped totals")
                big = big or a.total_bytes > 2**31
                for p in a.largest_key_prefixes:
                    expect(p.key_prefix and p.type in TYPES and is_int(p.bytes) and is_int(p.num),
                           f"prefix {p}")
                for k in a.largest_keys:
                    expect(k.key and k.type in TYPES and is_int(k.bytes) and is_int(k.num_of_elem),
                           f"largest key {k}")
                expect(sum(x.bytes for x in a.type_bytes) == a.total_bytes, "type_bytes' sum")
                expect(sum(x.num for x in a.type_num) == a.total_num, "type_num's sum")
                expect(sum(p.bytes for p in a.largest_key_prefixes) <= a.total_bytes,
                       "prefixes hold more than the total")
            expect_error(lambda i=iid: dcs.show_offline_key_analysis_task(
                ShowOfflineKeyAnalysisTaskRequest(instance_id=i, task_id="no-such-task")),
                ClientRequestException, 400, "DCS.4232")
        expect(big, "no analysis past 2^31 bytes (the SDK's int32)")

    r.check("list/show_offline_key_analysis_task: totals past 2^31, sums by type; "
            "unknown id -> 400 DCS.4232", offline, facts)

    def statistics():
        stats = dcs.list_statistics_of_running_instances(
            ListStatisticsOfRunningInstancesRequest()).statistics
        expect(sorted(s.instance_id for s in stats) == sorted(i for i, _, _ in facts),
               f"statistics of {[s.instance_id for s in stats]}")
        for s in stats:
            for field in ("keys", "used_memory", "max_memory", "cmd_get_count", "cmd_set_count"):
                expect(is_int(getattr(s, field)), f"{field} {getattr(s, field)!r}")
            expect(0 < s.used_memory <= s.max_memory, f"used {s.used_memory} of {s.max_memory} MB")
            for field in ("used_cpu", "input_kbps", "output_kbps"):
                expect(DECIMAL.match(getattr(s, field) or ""), f"{field} {getattr(s, field)!r}")

    r.check("list_statistics_of_running_instances: every instance, MB, load as strings",
            statistics, facts)
