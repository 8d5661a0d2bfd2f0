#!/usr/bin/env python3
"""Checks the simulator against Huawei Cloud's official Python SDK clients.

Every call goes through huaweicloudsdkdcs.v2.DcsClient or huaweicloudsdkdbss.v1.DbssClient,
signed with the given AK/SK, so the simulator is judged by what the real SDK sends and accepts.

    python3 tests/sdk/check_sdk.py --endpoint http://127.0.0.1:18080 \
        --ak AK --sk SK --project-id P [--project-only] [--oidc-id-token T --pod-token T]

Run it against a freshly started simulator (some node must not have been scanned yet). Pass
--project-only when the simulator was started with `--project-id P`: other project ids must
then be refused; without it they must be served. Prints "ok  <name>" or "FAIL <name>: why" per
check, then "N passed, M failed"; exits 1 when any check failed.

DCS's key analyses (big and hot keys, offline analyses, the running instances' statistics) are
checked in check_keys.py. The SDK's credential providers are checked too: its credentials file,
OIDC through STS (HUAWEICLOUD_SDK_STS_ENDPOINT), a federated id token through IAM
(HUAWEICLOUD_SDK_IAM_ENDPOINT), the metadata service (its fixed address patched to the
simulator's) and pod identity each obtain credentials that then sign DCS calls.
"""

import argparse
import atexit
import contextlib
import os
import re
import shutil
import sys
import tempfile
import time

# Importing huaweicloudsdkcore writes $HOME/.huaweicloud/application_id: keep it out of $HOME.
os.environ["HOME"] = tempfile.mkdtemp(prefix="check-sdk-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)

# pylint: disable=wrong-import-position
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import (  # noqa: E402
    ClientRequestException, ServerResponseException)
from huaweicloudsdkdbss.v1 import (  # noqa: E402
    DbssClient, ListAuditInstanceJobsNewRequest, ListAuditInstanceJobsRequest)
from huaweicloudsdkdcs.v2 import (  # noqa: E402
    DcsClient, HangUpClientsRequest, HangUpClientsRequestBody, HangUpKillAllClientsRequest,
    HangUpKillAllClientsRequestBody, ListClientsRequest, ListConfigurationsRequest,
    ListInstancesRequest, ListSlowlogRequest, ScanClientsRequest, ScanClientsRequestBody, ShowInstanceRequest,
    ShowJobInfoRequest, ShowNodesInformationRequest)

from check_keys import check_key_analyses  # noqa: E402
from checking import Failed, Runner, expect, expect_error  # noqa: E402

DBSS_RESOURCE = "dbss-audit-demo"
JOB_TIMEOUT_S = 10.0  # every job wait gives up after this long
POLL_S = 0.05
PAGE = 1000  # the service's largest page
MAX_PAGES = 500  # caps every paging loop
JOB_STATUSES = {"INIT", "RUNNING", "SUCCESS"}
PEER = re.compile(r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")
NUMERIC = re.compile(r"^\d+$")


def build(client_class, endpoint, ak, sk, project_id):
    """An official SDK client for one endpoint, signing with AK/SK for one project."""
    return (client_class.new_builder()
            .with_credentials(BasicCredentials(ak, sk, project_id))
            .with_endpoints([endpoint])
            .build())


class Sim:
    """The SDK clients and the helpers the checks share."""

    def __init__(self, endpoint, ak, sk, project_id):
        self.dcs = build(DcsClient, endpoint, ak, sk, project_id)
        self.dbss = build(DbssClient, endpoint, ak, sk, project_id)

    def scan(self, instance_id, node_id, clean_cache=True):
        body = ScanClientsRequestBody(node_id=node_id, clean_cache=clean_cache)
        return job_id_of(self.dcs.scan_clients(ScanClientsRequest(instance_id=instance_id,
                                                                  body=body)))

    def wait_job(self, job_id):
        """Polls a job until SUCCESS (at most JOB_TIMEOUT_S); returns (job, statuses seen)."""
        seen = []
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            job = self.dcs.show_job_info(ShowJobInfoRequest(job_id=job_id))
            expect(job.job_id == job_id, f"job_id {job.job_id!r}, want {job_id!r}")
            expect(job.status in JOB_STATUSES, f"status {job.status!r}, seen {seen}")
            if not seen or seen[-1] != job.status:
                seen.append(job.status)
            if job.status == "SUCCESS":
                return job, seen
            expect(time.monotonic() < deadline, f"job not done after {JOB_TIMEOUT_S}s: {seen}")
            time.sleep(POLL_S)

    def scan_and_wait(self, instance_id, node_id):
        return self.wait_job(self.scan(instance_id, node_id, clean_cache=True))

    def list_page(self, instance_id, node_id, **query):
        return self.dcs.list_clients(
            ListClientsRequest(instance_id=instance_id, node_id=node_id, **query))

    def list_all(self, instance_id, node_id, **query):
        """Walks the stored list a full page at a time, checking the pages join up.

        Returns (time, clients, count)."""
        clients, stamp, count = [], None, None
        for n in range(MAX_PAGES):
            page = self.list_page(instance_id, node_id, offset=len(clients), limit=PAGE, **query)
            if n == 0:
                stamp, count = page.time, page.count
                expect(isinstance(count, int) and count >= 0, f"count {count!r}")
            expect(page.time == stamp, f"page {n} has time {page.time!r}, page 0 {stamp!r}")
            expect(page.count == count, f"page {n} has count {page.count}, page 0 {count}")
            got = page.clients or []
            expect(len(got) <= PAGE, f"page {n} has {len(got)} clients > limit {PAGE}")
            clients.extend(got)
            if len(got) < PAGE or len(clients) >= count:
                break
        expect(len(clients) == count, f"pages hold {len(clients)} clients, count says {count}")
        return stamp, clients, count


def job_id_of(resp):
    """The job id of a scan or kill-all answer, whose SDK model keeps the JSON in `body`."""
    body = resp.body
    expect(isinstance(body, dict), f"response body {body!r} is not a JSON object")
    job_id = body.get("job_id")
    expect(isinstance(job_id, str) and job_id, f"no job_id in {body!r}")
    return job_id


def ip_of(address):
    return address.rsplit(":", 1)[0]


def check_client_info(c):
    """The typed fields of one ClientInfo."""
    for field in ("age", "idle", "sub", "psub", "multi", "qbuf", "omem"):
        v = getattr(c, field)
        expect(isinstance(v, int) and not isinstance(v, bool), f"{field} {v!r} is not an int")
    expect(c.age >= 0 and c.idle >= 0, f"negative age/idle: {c.age}/{c.idle}")
    expect(c.idle <= c.age, f"idle {c.idle} > age {c.age}")
    for field in ("id", "fd", "db", "name", "cmd", "flags", "events"):
        expect(isinstance(getattr(c, field), str), f"{field} {getattr(c, field)!r} is not a str")
    expect(NUMERIC.match(c.db), f"db {c.db!r} is not a number")
    expect(isinstance(c.peer, str) and PEER.match(c.peer), f"peer {c.peer!r} is not ip:port")
    expect(isinstance(c.addr, str) and PEER.match(c.addr), f"addr {c.addr!r} is not ip:port")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:18080")
    ap.add_argument("--ak", required=True)
    ap.add_argument("--sk", required=True)
    ap.add_argument("--project-id", required=True)
    ap.add_argument("--project-only", action="store_true",
                    help="the simulator was started with --project-id equal to ours")
    ap.add_argument("--oidc-id-token", help="the id token the simulator's STS accepts")
    ap.add_argument("--pod-token", help="the token the simulator's pod identity accepts")
    args = ap.parse_args()
    sim = Sim(args.endpoint, args.ak, args.sk, args.project_id)
    r = Runner()
    dcs = sim.dcs

    # 1. Instances: walk every page one at a time; filter by name.
    def list_instances_paged():
        first = dcs.list_instances(ListInstancesRequest(offset=0, limit=1))
        total = first.instance_num
        expect(isinstance(total, int) and total >= 2, f"instance_num {total!r}, want >= 2")
        found = []
        for offset in range(min(total, MAX_PAGES)):
            page = dcs.list_instances(ListInstancesRequest(offset=offset, limit=1))
            expect(page.instance_num == total, f"offset {offset}: instance_num {page.instance_num}")
            expect(len(page.instances) == 1, f"offset {offset}: {len(page.instances)} instances")
            found.append(page.instances[0])
        ids = [i.instance_id for i in found]
        expect(len(set(ids)) == total, f"pages repeat instances: {ids}")
        past = dcs.list_instances(ListInstancesRequest(offset=total, limit=1))
        expect(past.instances in (None, []), f"page past the end has {past.instances}")
        expect(past.instance_num == total, f"page past the end: instance_num {past.instance_num}")
        whole = dcs.list_instances(ListInstancesRequest(offset=0, limit=100))
        expect([i.instance_id for i in whole.instances] == ids, "one page differs from the walk")
        for i in found:
            expect(i.name and i.status and isinstance(i.port, int), f"untyped instance {i}")
        return found

    instances = r.check("list_instances: limit=1 pages join up", list_instances_paged)

    def list_instances_by_name():
        name = instances[0].name
        got = dcs.list_instances(ListInstancesRequest(name=name, limit=100))
        expect(got.instance_num >= 1 and len(got.instances) == got.instance_num,
               f"name={name!r}: instance_num {got.instance_num}, {len(got.instances)} listed")
        expect(all(name in i.name for i in got.instances), f"name={name!r} let others through")
        expect(instances[0].instance_id in [i.instance_id for i in got.instances], "missing itself")
        none = dcs.list_instances(ListInstancesRequest(name="no-such-instance-name", limit=10))
        expect(none.instance_num == 0 and not none.instances, f"unknown name gave {none}")

    r.check("list_instances: name filter", list_instances_by_name, instances)

    # 2. Nodes of every instance.
    def nodes_of_all():
        nodes = {}
        for inst in instances:
            resp = dcs.show_nodes_information(
                ShowNodesInformationRequest(instance_id=inst.instance_id))
            expect(resp.instance_id == inst.instance_id, f"instance_id {resp.instance_id!r}")
            expect(resp.total == len(resp.nodes) > 0, f"total {resp.total}, {len(resp.nodes)}")
            for n in resp.nodes:
                expect(isinstance(n.node_id, str) and n.node_id, f"node_id {n.node_id!r}")
                expect(n.node_role in ("redis-server", "redis-proxy"), f"node_role {n.node_role!r}")
                expect(n.node_type in ("master", "slave", "proxy"), f"node_type {n.node_type!r}")
                expect(isinstance(n.is_access, bool), f"is_access {n.is_access!r} is not a bool")
                expect(isinstance(n.node_port, str) and NUMERIC.match(n.node_port),
                       f"node_port {n.node_port!r} is not a numeric str")
            # Where proxies exist only they take clients; elsewhere every data node does.
            has_proxy = any(n.node_role == "redis-proxy" for n in resp.nodes)
            for n in resp.nodes:
                expect(n.is_access == (n.node_role == "redis-proxy" or not has_proxy),
                       f"{inst.name}: {n.node_role} {n.node_type} has is_access {n.is_access}")
            nodes[inst.instance_id] = resp.nodes
        return nodes

    nodes = r.check("show_nodes_information: typed fields, is_access", nodes_of_all, instances)

    # 3. A node that takes clients and was never scanned: list fails until a scan is done.
    def pick_unscanned():
        for iid, ns in nodes.items():
            for n in ns:
                if not n.is_access:
                    continue
                try:
                    sim.list_page(iid, n.node_id, limit=1)
                except ServerResponseException as e:
                    expect(e.status_code == 500, f"status {e.status_code}, want 500")
                    return iid, n.node_id
        raise Failed("every client-taking node was scanned already (restart the simulator)")

    target = r.check("list_clients before any scan -> ServerResponseException 500",
                     pick_unscanned, nodes)
    iid, node = target if target else (None, None)

    def scan_twice():
        job_id = sim.scan(iid, node)
        e = expect_error(lambda: sim.scan(iid, node), ClientRequestException, 400, "DCS.4957")
        expect(e.request_id, "no request_id on the DCS.4957 error")
        return job_id

    scan_job = r.check("scan_clients -> job_id; second scan -> 400 DCS.4957", scan_twice, target)

    def scan_job_done():
        job, seen = sim.wait_job(scan_job)
        expect(job.job_type, "no job_type")
        for field in ("begin_time", "end_time"):
            v = getattr(job, field)
            expect(isinstance(v, str) and NUMERIC.match(v), f"{field} {v!r} is not a numeric str")
        expect(int(job.begin_time) <= int(job.end_time), f"{job.begin_time} > {job.end_time}")
        return seen

    r.check("show_job_info: polled to SUCCESS, ms times", scan_job_done, scan_job)

    # 4. The stored list: pages, bad paging, sorting, address filter.
    def paging():
        stamp, clients, count = sim.list_all(iid, node)
        expect(count >= 2, f"only {count} sessions on the node")
        for c in clients:
            check_client_info(c)
        expect(len({c.peer for c in clients}) == count, "a peer appears twice")
        return clients

    clients = r.check("list_clients: pages share time, sizes add up to count, typed",
                      paging, scan_job)

    def bad_paging():
        for query in ({"limit": 0}, {"limit": 1001}, {"offset": -1, "limit": 10}):
            try:
                expect_error(lambda: sim.list_page(iid, node, **query), ClientRequestException, 400)
            except Failed as e:
                raise Failed(f"{query}: {e}") from None

    r.check("list_clients: limit=0, limit=1001, offset=-1 -> 400", bad_paging, clients)

    def sorted_by_idle():
        _, by_idle, count = sim.list_all(iid, node, sort="idle", order="desc")
        expect(count == len(clients), f"sorted count {count}, unsorted {len(clients)}")
        idles = [c.idle for c in by_idle]
        bad = next((k for k in range(1, len(idles)) if idles[k] > idles[k - 1]), None)
        expect(bad is None, f"idle rises at {bad}: {idles[max(bad or 0, 1) - 1:(bad or 0) + 1]}")
        expect(sorted(c.peer for c in by_idle) == sorted(c.peer for c in clients), "other sessions")

    r.check("list_clients: sort=idle order=desc is non-increasing", sorted_by_idle, clients)

    def by_address():
        ip = ip_of(clients[0].peer)
        want = {c.peer for c in clients if ip in (ip_of(c.addr), ip_of(c.peer))}
        _, got, count = sim.list_all(iid, node, addr=ip)
        expect(count == len(want), f"addr={ip}: count {count}, want {len(want)}")
        expect({c.peer for c in got} == want, f"addr={ip}: other sessions than the full list's")
        expect(all(ip in (ip_of(c.addr), ip_of(c.peer)) for c in got), "a session of another IP")

    r.check("list_clients: addr filter by IP", by_address, clients)

    # 5. Hang up two chosen sessions; a fresh scan no longer shows them.
    def hang_up_two():
        peers = [clients[0].peer, clients[1].peer]
        body = HangUpClientsRequestBody(node_id=node, client_addrs=peers)
        resp = dcs.hang_up_clients(HangUpClientsRequest(instance_id=iid, body=body))
        expect(resp.status_code == 204, f"status {resp.status_code}, want 204")
        sim.scan_and_wait(iid, node)
        _, after, _ = sim.list_all(iid, node)
        left = sorted(set(peers) & {c.peer for c in after})
        expect(not left, f"hung-up sessions still listed: {left}")

    r.check("hang_up_clients: 204, the two peers are gone after a rescan", hang_up_two, clients)

    # 6. Kill every session of the node; then of every node of another instance.
    def kill_all_node():
        _, before, _ = sim.list_all(iid, node)
        body = HangUpKillAllClientsRequestBody(node_id=node, kill_all_nodes=False)
        job_id = job_id_of(dcs.hang_up_kill_all_clients(
            HangUpKillAllClientsRequest(instance_id=iid, body=body)))
        killed, _ = sim.wait_job(job_id)
        scanned, _ = sim.scan_and_wait(iid, node)
        _, after, count = sim.list_all(iid, node)
        if count == 0:
            return
        # Clients reconnect after a mass kill (the simulator ramps them back over minutes),
        # so the rescan, which ends a job's duration after the kill, may already see a few.
        # Those must all be new sessions, younger than the gap; no old session may survive.
        gap_s = (int(scanned.end_time) - int(killed.end_time)) / 1000
        survivors = {c.peer for c in before} & {c.peer for c in after}
        expect(not survivors, f"{len(survivors)} sessions survived: {sorted(survivors)[:3]}")
        old = [c.age for c in after if c.age > gap_s + 1]
        expect(not old, f"{len(old)} sessions older than the {gap_s:.3f}s since the kill")
        expect(count <= len(before) // 20,
               f"count {count} after kill-all and rescan (was {len(before)}), want ~0")

    r.check("hang_up_kill_all_clients (node): job SUCCESS, rescan lists no old session",
            kill_all_node, target)

    def kill_all_nodes_elsewhere():
        other = next((i for i in nodes if i != iid), None)
        expect(other is not None, "no second instance")
        body = HangUpKillAllClientsRequestBody(kill_all_nodes=True)
        job_id = job_id_of(dcs.hang_up_kill_all_clients(
            HangUpKillAllClientsRequest(instance_id=other, body=body)))
        sim.wait_job(job_id)

    r.check("hang_up_kill_all_clients (kill_all_nodes=True, other instance)",
            kill_all_nodes_elsewhere, target)

    # 6b. Instance details, parameters, the tags filter and Cloud Eye dimensions.
    def details_and_parameters():
        seen_pass_through = set()
        for inst in instances:
            details = dcs.show_instance(ShowInstanceRequest(instance_id=inst.instance_id))
            expect(details.instance_id == inst.instance_id, f"instance_id {details.instance_id!r}")
            expect(details.name == inst.name and details.engine_version and details.spec_code,
                   f"untyped details {details}")
            expect(isinstance(details.transparent_client_ip_enable, bool),
                   f"transparent_client_ip_enable {details.transparent_client_ip_enable!r}")
            seen_pass_through.add(details.transparent_client_ip_enable)
            expect(details.enterprise_project_id, "no enterprise_project_id")
            expect(details.tags and all(t.key and t.value for t in details.tags),
                   f"tags {details.tags!r}")
            configs = dcs.list_configurations(
                ListConfigurationsRequest(instance_id=inst.instance_id))
            expect(configs.instance_id == inst.instance_id, f"configs of {configs.instance_id!r}")
            params = {p.param_name: p.param_value for p in configs.redis_config}
            expect(NUMERIC.match(params.get("maxclients", "")), f"maxclients {params!r}")
            expect(NUMERIC.match(params.get("timeout", "")), f"timeout {params!r}")
            # The tags filter: key=value pairs, all of which must match.
            tag = details.tags[0]
            tagged = dcs.list_instances(ListInstancesRequest(tags=f"{tag.key}={tag.value}"))
            expect(inst.instance_id in [i.instance_id for i in tagged.instances],
                   f"tags={tag.key}={tag.value} misses the instance")
            expect(all(any(t.key == tag.key and t.value == tag.value for t in i.tags or [])
                       for i in tagged.instances), "tags filter lets others through")
        expect(seen_pass_through == {True, False}, f"pass-through seen {seen_pass_through}")
        none = dcs.list_instances(ListInstancesRequest(tags="no-such-tag=x"))
        expect(none.instance_num == 0, f"tags=no-such-tag=x: {none.instance_num}")
        nodes = dcs.show_nodes_information(
            ShowNodesInformationRequest(instance_id=instances[0].instance_id))
        for node in nodes.nodes:
            names = [d.name for d in node.dimensions or []]
            expect(names and names[0] == "dcs_instance_id" and len(names) == 2,
                   f"dimensions {names}")

    r.check("show_instance, list_configurations, tags filter, dimensions", details_and_parameters,
            instances)

    # 6c. The slow log: required times, pages in the order asked, typed items.
    def slow_log():
        now = int(time.time() * 1000)
        day_ago = str(now - 3_600_000)
        for inst in instances:
            details = dcs.show_instance(ShowInstanceRequest(instance_id=inst.instance_id))
            expect(details.support_slow_log_flag in ("true", "false"),
                   f"support_slow_log_flag {details.support_slow_log_flag!r}")
            if details.support_slow_log_flag != "true":
                continue
            seen = []
            for offset in range(0, 100_000, 100):
                page = dcs.list_slowlog(ListSlowlogRequest(
                    instance_id=inst.instance_id, start_time=day_ago, end_time=str(now),
                    offset=offset, limit=100, sort_key="start_time", sort_dir="asc"))
                expect(isinstance(page.total_num, int), f"total_num {page.total_num!r}")
                seen.extend(page.slowlogs or [])
                if not page.slowlogs:
                    break
            expect(len(seen) == page.total_num and seen, f"{len(seen)} of {page.total_num}")
            for item in seen:
                expect(isinstance(item.id, int) and item.command and item.client_ip,
                       f"untyped item {item}")
                expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item.start_time),
                       f"start_time {item.start_time!r}")
                expect(NUMERIC.match(item.duration), f"duration {item.duration!r}")
            times = [i.start_time for i in seen]
            expect(times == sorted(times), "not oldest first")
            longest = dcs.list_slowlog(ListSlowlogRequest(
                instance_id=inst.instance_id, start_time=day_ago, end_time=str(now),
                limit=5, sort_key="duration"))
            durations = [int(i.duration) for i in longest.slowlogs]
            expect(durations == sorted(durations, reverse=True) and len(durations) == 5,
                   f"by duration {durations}")
            # start_time and end_time are required.
            expect_error(lambda: dcs.list_slowlog(ListSlowlogRequest(
                instance_id=inst.instance_id, end_time=str(now))), ClientRequestException, 400)

    r.check("list_slowlog: pages, order, typed items, required times", slow_log, instances)

    # 7. A data node behind proxies takes no clients.
    def scan_data_node():
        for other, ns in (nodes or {}).items():
            if any(n.node_role == "redis-proxy" for n in ns):
                data = next(n for n in ns if not n.is_access)
                expect_error(lambda: sim.scan(other, data.node_id), ClientRequestException, 400)
                return
        raise Failed("no instance with proxies")

    r.check("scan_clients on a proxy instance's data node -> 400", scan_data_node, nodes)

    # 8. DBSS job records, on the current and on the deprecated path.
    def dbss_jobs():
        new = sim.dbss.list_audit_instance_jobs_new(
            ListAuditInstanceJobsNewRequest(resource_id=DBSS_RESOURCE)).jobs
        old = sim.dbss.list_audit_instance_jobs(
            ListAuditInstanceJobsRequest(resource_id=DBSS_RESOURCE)).jobs
        expect(new, "no jobs")
        expect([j.to_dict() for j in new] == [j.to_dict() for j in old], "the two paths differ")
        statuses = {j.status for j in new}
        expect({"SUCCESS", "FAIL", "RUNNING"} <= statuses, f"statuses {sorted(statuses)}")
        for j in new:
            expect(j.resource_id == DBSS_RESOURCE, f"resource_id {j.resource_id!r}")
            expect(isinstance(j.begin_time, int), f"begin_time {j.begin_time!r} is not an int")
            if j.status == "RUNNING":
                expect(j.end_time is None, f"RUNNING job has end_time {j.end_time!r}")
            else:
                expect(isinstance(j.end_time, int) and j.end_time >= j.begin_time,
                       f"{j.status} job has end_time {j.end_time!r}")
            if j.status == "FAIL":
                expect(j.fail_reason, "FAIL job without fail_reason")

    r.check("dbss: list_audit_instance_jobs_new == legacy path", dbss_jobs)

    def dbss_unknown():
        for call, req in ((sim.dbss.list_audit_instance_jobs_new, ListAuditInstanceJobsNewRequest),
                          (sim.dbss.list_audit_instance_jobs, ListAuditInstanceJobsRequest)):
            expect_error(lambda: call(req(resource_id="no-such-resource")),
                         ClientRequestException, 404)

    r.check("dbss: unknown resource -> 404", dbss_unknown)

    # 9. A wrong secret key is refused by the gateway.
    def wrong_sk():
        bad = build(DcsClient, args.endpoint, args.ak, args.sk + "x", args.project_id)
        e = expect_error(lambda: bad.list_instances(ListInstancesRequest(limit=1)),
                         ClientRequestException, 401, "APIG.0301")
        expect(e.request_id, "no request_id")

    r.check("wrong SK -> 401 APIG.0301 with request_id", wrong_sk)

    # 10. Another project id: refused when the simulator serves one project, served otherwise.
    def other_project():
        other = Sim(args.endpoint, args.ak, args.sk, args.project_id + "-other")
        calls = (lambda: other.dcs.list_instances(ListInstancesRequest(limit=1)),
                 lambda: other.dbss.list_audit_instance_jobs_new(
                     ListAuditInstanceJobsNewRequest(resource_id=DBSS_RESOURCE)))
        for call in calls:
            if args.project_only:
                expect_error(call, ClientRequestException, 401, "APIG.0301")
            else:
                call()

    r.check("another project id -> " + ("401 APIG.0301" if args.project_only else "served"),
            other_project)

    check_key_analyses(r, dcs, instances)

    check_credential_providers(r, args)

    print(f"{r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


def with_provider_credentials(args, credentials):
    """A DcsClient signing with credentials a provider made; lists instances with them."""
    client = (DcsClient.new_builder()
              .with_credentials(credentials)
              .with_endpoints([args.endpoint])
              .build())
    page = client.list_instances(ListInstancesRequest(offset=0, limit=1))
    expect(page.instance_num and page.instance_num >= 1, f"instance_num {page.instance_num!r}")
    return credentials


@contextlib.contextmanager
def environment(variables):
    """These variables set for the block, then removed."""
    os.environ.update(variables)
    try:
        yield
    finally:
        for name in variables:
            del os.environ[name]


@contextlib.contextmanager
def metadata_at(endpoint):
    """The SDK's metadata accessor pointed at `endpoint` for the block: the SDK also renews
    from it while signing calls, so the patch must cover the calls too."""
    # pylint: disable=import-outside-toplevel,protected-access
    from huaweicloudsdkcore.auth import internal
    saved = internal.MetadataAccessor._METADATA_ENDPOINT
    internal.MetadataAccessor._METADATA_ENDPOINT = endpoint
    try:
        yield
    finally:
        internal.MetadataAccessor._METADATA_ENDPOINT = saved


def check_credential_providers(r, args):
    """11. The SDK's own providers obtain credentials from the simulator and call DCS."""
    # pylint: disable=import-outside-toplevel
    from huaweicloudsdkcore.auth.provider import (
        EnvCredentialProvider, MetadataCredentialProvider, OidcStsCredentialProvider,
        PodIdentityCredentialProvider, ProfileCredentialProvider)

    def profile():
        path = os.path.join(os.environ["HOME"], "sdk-credentials")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"[basic]\nak = {args.ak}\nsk = {args.sk}\nproject_id = {args.project_id}\n")
        with environment({"HUAWEICLOUD_SDK_CREDENTIALS_FILE": path}):
            creds = ProfileCredentialProvider.get_basic().get_credentials()
        with_provider_credentials(args, creds)

    r.check("provider: the SDK's credentials file signs DCS calls", profile)

    def temporary(creds, what):
        expect(creds.ak and creds.ak != args.ak, f"{what}: no temporary access key")
        expect(creds.security_token, f"{what}: no security token")
        expect(creds._expired_at > time.time() + 60,  # pylint: disable=protected-access
               f"{what}: expires at {creds._expired_at}")  # pylint: disable=protected-access

    def metadata():
        with metadata_at(args.endpoint):
            provider = MetadataCredentialProvider.get_basic_credential_metadata_provider()
            provider.project_id = args.project_id
            creds = provider.get_credentials()
            temporary(creds, "metadata")
            with_provider_credentials(args, creds)

    r.check("provider: the metadata service's agency credentials sign DCS calls", metadata)

    def wrong_security_token():
        with metadata_at(args.endpoint):
            provider = MetadataCredentialProvider.get_basic_credential_metadata_provider()
            provider.project_id = args.project_id
            creds = provider.get_credentials()
            forged = BasicCredentials(creds.ak, creds.sk, args.project_id).with_security_token(
                creds.security_token + "x")
            expect_error(lambda: with_provider_credentials(args, forged),
                         ClientRequestException, 401, "APIG.0301")

    r.check("provider: a temporary key with another token -> 401 APIG.0301", wrong_security_token)

    if args.oidc_id_token:
        def oidc():
            env = {
                "HUAWEICLOUD_OIDC_PROVIDER_URN": "iam::0123:identity-provider:cce",
                "HUAWEICLOUD_OIDC_AGENCY_URN": "iam::0123:agency:dcs-exporter",
                "HUAWEICLOUD_OIDC_ID_TOKEN": args.oidc_id_token,
                "HUAWEICLOUD_SDK_STS_ENDPOINT": args.endpoint,
                "HUAWEICLOUD_SDK_PROJECT_ID": args.project_id,
            }
            with environment(env):
                creds = OidcStsCredentialProvider.get_basic().get_credentials()
                with_provider_credentials(args, creds)
            temporary(creds, "oidc")

        r.check("provider: OIDC through STS signs DCS calls", oidc)

        def federated():
            path = os.path.join(os.environ["HOME"], "id-token")
            with open(path, "w", encoding="utf-8") as f:
                f.write(args.oidc_id_token)
            env = {
                "HUAWEICLOUD_SDK_IDP_ID": "cce-cluster",
                "HUAWEICLOUD_SDK_ID_TOKEN_FILE": path,
                "HUAWEICLOUD_SDK_IAM_ENDPOINT": args.endpoint,
                "HUAWEICLOUD_SDK_PROJECT_ID": args.project_id,
            }
            with environment(env):
                creds = EnvCredentialProvider.get_basic().get_credentials()
                with_provider_credentials(args, creds)
            temporary(creds, "federated")

        r.check("provider: a federated id token through IAM signs DCS calls", federated)

    if args.pod_token:
        def pod_identity():
            path = os.path.join(os.environ["HOME"], "pod-token")
            with open(path, "w", encoding="utf-8") as f:
                f.write(args.pod_token)
            env = {
                "HC_CONTAINER_CREDENTIALS_FULL_URI": args.endpoint + "/v1/pod-identity/credentials",
                "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE": path,
            }
            with environment(env):
                creds = PodIdentityCredentialProvider.get_basic().get_credentials()
            creds.with_project_id(args.project_id)
            temporary(creds, "pod identity")
            with_provider_credentials(args, creds)

        r.check("provider: pod identity signs DCS calls", pod_identity)


if __name__ == "__main__":
    sys.exit(main())
