"""Decodes a length-delimited protobuf exposition (io.prometheus.client.MetricFamily messages,
as Prometheus asks for with native histograms on) from stdin and prints it as JSON.

Written from the message definitions of Prometheus' client_model (metrics.proto), without the
exporter's code or a protobuf library, so that the tests check the exporter's output against
an independent reading.
"""

import json
import struct
import sys

TYPES = {0: "counter", 1: "gauge", 2: "summary", 3: "untyped", 4: "histogram",
         5: "gaugehistogram"}


def varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def zigzag(n):
    return (n >> 1) ^ -(n & 1)


def fields(data):
    """(field number, wire type, value) of one message: ints for varints, bytes for
    length-delimited fields, floats for 64-bit ones."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
        elif wire == 1:
            value = struct.unpack("<d", data[pos:pos + 8])[0]
            pos += 8
        elif wire == 2:
            length, pos = varint(data, pos)
            value = data[pos:pos + length]
            pos += length
        elif wire == 5:
            value = struct.unpack("<f", data[pos:pos + 4])[0]
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def packed_sint64(value, wire):
    if wire == 0:
        return [zigzag(value)]
    out, pos = [], 0
    while pos < len(value):
        n, pos = varint(value, pos)
        out.append(zigzag(n))
    return out


def span(data):
    offset, length = 0, 0
    for number, _, value in fields(data):
        if number == 1:
            offset = zigzag(value)
        elif number == 2:
            length = value
    return [offset, length]


def histogram(data):
    h = {"count": 0, "sum": 0.0, "buckets": [], "schema": None, "zero_threshold": 0.0,
         "zero_count": 0, "positive_spans": [], "positive_deltas": [],
         "negative_spans": [], "negative_deltas": []}
    for number, wire, value in fields(data):
        if number == 1:
            h["count"] = value
        elif number == 2:
            h["sum"] = value
        elif number == 3:
            bucket = {"cumulative_count": 0, "upper_bound": 0.0}
            for n, _, v in fields(value):
                if n == 1:
                    bucket["cumulative_count"] = v
                elif n == 2:
                    bucket["upper_bound"] = v
            bound = bucket["upper_bound"]
            bucket["upper_bound"] = "+Inf" if bound == float("inf") else repr(bound)
            h["buckets"].append(bucket)
        elif number == 5:
            h["schema"] = zigzag(value)
        elif number == 6:
            h["zero_threshold"] = value
        elif number == 7:
            h["zero_count"] = value
        elif number == 9:
            h["negative_spans"].append(span(value))
        elif number == 10:
            h["negative_deltas"] += packed_sint64(value, wire)
        elif number == 12:
            h["positive_spans"].append(span(value))
        elif number == 13:
            h["positive_deltas"] += packed_sint64(value, wire)
    return h


def metric(data):
    m = {"labels": {}}
    for number, _, value in fields(data):
        if number == 1:
            pair = {n: v.decode() for n, _, v in fields(value)}
            m["labels"][pair.get(1, "")] = pair.get(2, "")
        elif number in (2, 3, 5):
            kind = {2: "gauge", 3: "counter", 5: "untyped"}[number]
            m[kind] = next((v for n, _, v in fields(value) if n == 1), 0.0)
        elif number == 7:
            m["histogram"] = histogram(value)
    return m


def families(data):
    pos, out = 0, []
    while pos < len(data):
        length, pos = varint(data, pos)
        family = {"name": "", "help": "", "type": "counter", "metrics": []}
        for number, _, value in fields(data[pos:pos + length]):
            if number == 1:
                family["name"] = value.decode()
            elif number == 2:
                family["help"] = value.decode()
            elif number == 3:
                family["type"] = TYPES.get(value, str(value))
            elif number == 4:
                family["metrics"].append(metric(value))
        out.append(family)
        pos += length
    return out


if __name__ == "__main__":
    json.dump(families(sys.stdin.buffer.read()), sys.stdout)
