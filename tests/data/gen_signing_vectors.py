#!/usr/bin/env python3
"""Generate SDK-HMAC-SHA256 signing test vectors with Huawei Cloud's official Python SDK.

Usage (from the repository root):

    pip install huaweicloudsdkcore
    python3 tests/data/gen_signing_vectors.py

Writes tests/data/signing_vectors.json. Nothing here re-implements the signing
algorithm: every request is signed by huaweicloudsdkcore itself, through
``BasicCredentials.sign_request`` (which adds X-Project-Id / X-Security-Token
exactly as the SDK client does) and then ``huaweicloudsdkcore.signer.Signer``.
The intermediate values (canonical request, string to sign, signed headers,
signature) are captured by wrapping the Signer's own methods, so they are
exactly what the SDK computed.

The date is fixed by presetting the X-Sdk-Date header on the request: the SDK
Signer honours a preset X-Sdk-Date and only reads the clock when it is absent.
The output is therefore deterministic.
"""

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from importlib.metadata import version

# Importing huaweicloudsdkcore.auth.credentials imports http/user_agent.py, which
# creates $HOME/.huaweicloud/application_id as an import-time side effect. Point
# HOME at a throw-away directory while importing so the generator leaves no
# trace in the user's home (the User-Agent plays no part in these vectors).
_saved_home = os.environ.get("HOME")
with tempfile.TemporaryDirectory() as _tmp_home:
    os.environ["HOME"] = _tmp_home
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.sdk_request import SdkRequest
        from huaweicloudsdkcore.signer.signer import Signer
    finally:
        if _saved_home is None:
            del os.environ["HOME"]
        else:
            os.environ["HOME"] = _saved_home

SDK_PACKAGE = "huaweicloudsdkcore"
SDK_VERSION = version(SDK_PACKAGE)

# Fake credentials: never valid anywhere.
AK = "HPUAFAKEAK0000000001"
SK = "FakeSecretKey0000000000000000000000000001"
SECURITY_TOKEN = "FAKE-SECURITY-TOKEN.gQpjbi1ub3J0aC00AAAA"
SDK_DATE = "20261124T101500Z"

DCS_HOST = "dcs.cn-north-4.myhuaweicloud.com"
DBSS_HOST = "dbss.cn-north-4.myhuaweicloud.com"

OUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signing_vectors.json")

# A vector's "headers" are the request headers as they were when Signer.sign()
# was entered: the caller's headers plus X-Project-Id / X-Security-Token added
# by BasicCredentials, minus the ones below (Host comes from "host", X-Sdk-Date
# from "sdk_date"). X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD is added inside
# Signer.sign() for non-JSON content types, so it shows up only in the outputs.
EXCLUDED_HEADERS = {"host", "x-sdk-date", "authorization"}


def case(name, method="GET", host=DCS_HOST, path="/", query=(), headers=(), body="",
         project_id=None, security_token=None):
    """One request to sign. `headers` are the caller-supplied headers; the
    credentials add X-Project-Id (project_id) and X-Security-Token."""
    return dict(name=name, method=method, host=host, path=path, query=list(query),
                headers=list(headers), body=body, project_id=project_id,
                security_token=security_token)


JSON = ("Content-Type", "application/json")

CASES = [
    # --- basics -----------------------------------------------------------
    case("get_no_headers_minimal", path="/v2/p1/instances"),
    case("get_empty_body_list_instances", path="/v2/p1/instances",
         headers=[JSON], project_id="p1"),
    case("get_list_clients_query", path="/v2/p1/instances/i1/clients",
         query=[("node_id", "n1"), ("offset", "0"), ("limit", "100")],
         headers=[JSON], project_id="p1"),
    case("post_json_scan_clients", method="POST", path="/v2/p1/instances/i1/clients",
         headers=[("Content-Type", "application/json;charset=utf-8")],
         body='{"node_id":"n1","clean_cache":true}', project_id="p1"),
    case("post_json_kill_all_charset_upper", method="POST",
         path="/v2/p1/instances/i1/clients/kill-all",
         headers=[("Content-Type", "application/json;charset=UTF-8")],
         body='{"node_id":"n1","kill_all_nodes":false}', project_id="p1"),
    # --- query string canonicalisation -----------------------------------
    case("query_value_with_spaces", path="/v2/p1/instances/i1/clients",
         query=[("addr", "10.0.0.1 6379"), ("name", "a  b ")], headers=[JSON]),
    case("query_tilde_and_unreserved", path="/v2/p1/instances",
         query=[("name", "a~b"), ("tilde~key", "~"), ("u", "AZaz09-_.~")], headers=[JSON]),
    case("query_percent_not_decoded", path="/v2/p1/instances",
         query=[("name", "100%"), ("raw", "%41%2F")], headers=[JSON]),
    case("query_unicode", path="/v2/p1/instances",
         query=[("name", "会话"), ("city", "é"), ("键", "v")], headers=[JSON]),
    case("query_reserved_chars", path="/v2/p1/instances",
         query=[("q", "a=b&c+d/e:f@g?h#i"), ("r", "!*'();$,[] \"<>^`{|}\\")], headers=[JSON]),
    case("query_repeated_keys_unsorted", path="/v2/p1/instances",
         query=[("tag", "b"), ("offset", "0"), ("tag", "a"), ("tag", "c")], headers=[JSON]),
    case("query_empty_value", path="/v2/p1/instances",
         query=[("name", ""), ("limit", "10"), ("a", "")], headers=[JSON]),
    # The SDK sorts the RAW (key, value) tuples by code point, before encoding,
    # and by key first (not by the "k=v" string). These keys sort differently
    # if one sorts encoded strings or "k=v" strings instead.
    case("query_sort_raw_key_then_value", path="/v2/p1/instances",
         query=[("z", "1"), ("é", "2"), ("a=b", "3"), ("a0", "4"), ("a`", "5"), ("a_", "6"),
                ("a-b", "7"), ("a", "8")],
         headers=[JSON]),
    # --- canonical URI ---------------------------------------------------
    case("path_space_and_unicode", path="/v2/p1/instances/my instance/会话/é",
         headers=[JSON]),
    case("path_reserved_chars_in_segment", path="/v2/p1/instances/a:b@c+d/x!$&'()*,;=y",
         headers=[JSON]),
    case("path_trailing_slash", path="/v2/p1/instances/", headers=[JSON]),
    # --- header canonicalisation -----------------------------------------
    case("header_value_surrounding_spaces", path="/v2/p1/instances",
         headers=[JSON, ("X-Custom-Header", "  v1   v2  "), ("X-Other", "\tv3 ")]),
    case("header_name_with_underscore_unsigned", path="/v2/p1/instances",
         headers=[JSON, ("X_Custom_Header", "not-signed"), ("X-Custom-Header", "signed")]),
    case("header_user_agent_mixed_case", path="/v2/p1/instances",
         headers=[("content-type", "application/json"), ("User-Agent", "dcs-session-exporter/0.1"),
                  ("X-MiXeD-CaSe", "Value")],
         project_id="p1"),
    # --- credentials-added headers ---------------------------------------
    case("security_token_temporary_credentials", path="/v2/p1/instances/i1/clients",
         query=[("node_id", "n1")], headers=[JSON], project_id="p1",
         security_token=SECURITY_TOKEN),
    # --- payload hash ----------------------------------------------------
    case("octet_stream_unsigned_payload", method="POST", path="/v2/p1/instances/i1/upload",
         headers=[("Content-Type", "application/octet-stream")], body="raw bytes \u00ff",
         project_id="p1"),
    case("text_plain_empty_body_uses_empty_hash", method="POST", path="/v2/p1/instances/i1/x",
         headers=[("Content-Type", "text/plain")], body=""),
    # --- other services / hosts ------------------------------------------
    case("dbss_list_audit_jobs", host=DBSS_HOST, path="/v1/p1/audit/r1/jobs",
         headers=[JSON], project_id="p1"),
    case("host_with_non_default_port", host="127.0.0.1:18080", path="/v2/p1/jobs/j1",
         headers=[JSON], project_id="p1"),
]


@contextmanager
def capture_signer():
    """Wrap the SDK Signer's own methods to record what they compute."""
    captured = {}
    originals = {}

    def wrap(attr, key, snapshot_input=False):
        raw = Signer.__dict__[attr]  # plain function or classmethod object
        originals[attr] = raw
        is_classmethod = isinstance(raw, classmethod)
        func = raw.__func__ if is_classmethod else raw

        def wrapper(self_or_cls, *args, **kwargs):
            if snapshot_input:
                # Signer.sign(request): snapshot headers before the signer touches them.
                captured[key] = list(args[0].header_params.items())
            result = func(self_or_cls, *args, **kwargs)
            if not snapshot_input:
                captured[key] = result
            return result

        setattr(Signer, attr, classmethod(wrapper) if is_classmethod else wrapper)

    wrap("sign", "input_headers", snapshot_input=True)
    wrap("_process_signed_headers", "signed_headers")
    wrap("_process_canonical_request", "canonical_request")
    wrap("_process_string_to_sign", "string_to_sign")
    wrap("_sign_string_to_sign", "signature")
    try:
        yield captured
    finally:
        for attr, orig in originals.items():
            setattr(Signer, attr, orig)


def sign_case(c):
    credentials = BasicCredentials(AK, SK, c["project_id"])
    if c["security_token"]:
        credentials.with_security_token(c["security_token"])

    header_params = dict(c["headers"])
    header_params["X-Sdk-Date"] = SDK_DATE  # preset date: honoured by the Signer
    request = SdkRequest(method=c["method"], schema="https", host=c["host"],
                         resource_path=c["path"], query_params=list(c["query"]),
                         header_params=header_params, body=c["body"])

    with capture_signer() as cap:
        # Same call the SDK client makes (Credentials.process_auth_request submits
        # exactly this to a thread pool): adds X-Project-Id / X-Security-Token,
        # then signs with huaweicloudsdkcore.signer.Signer.
        signed = credentials.sign_request(request)

    if type(signed) is not SdkRequest or "Authorization" not in signed.header_params:
        raise RuntimeError("SDK did not sign request %s" % c["name"])
    signed_headers = ";".join(cap["signed_headers"])
    authorization = signed.header_params["Authorization"]
    assert cap["signature"] in authorization and signed_headers in authorization

    return {
        "name": c["name"],
        "method": c["method"],
        "host": c["host"],
        "path": c["path"],
        "query": [[k, v] for k, v in c["query"]],
        "headers": [[k, v] for k, v in cap["input_headers"] if k.lower() not in EXCLUDED_HEADERS],
        "body": c["body"],
        "sdk_date": SDK_DATE,
        "canonical_request": cap["canonical_request"],
        "string_to_sign": cap["string_to_sign"],
        "signed_headers": signed_headers,
        "signature": cap["signature"],
        "authorization": authorization,
    }


def main():
    print("%s %s" % (SDK_PACKAGE, SDK_VERSION))
    names = [c["name"] for c in CASES]
    if len(names) != len(set(names)):
        sys.exit("duplicate vector names")

    doc = {
        "generator": "tests/data/gen_signing_vectors.py",
        "sdk": {"package": SDK_PACKAGE, "version": SDK_VERSION},
        "ak": AK,
        "sk": SK,
        "vectors": [sign_case(c) for c in CASES],
    }
    with open(OUT_PATH, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False))
        f.write("\n")
    print("wrote %d vectors to %s" % (len(doc["vectors"]), os.path.relpath(OUT_PATH)))


if __name__ == "__main__":
    main()
