"""An independent Modbus slave for Fieldgate's tests: pymodbus 3.0 (Debian) plus a small fault layer.

Started by test/helpers/pymodbus.ts; run it with /usr/bin/python3 (Debian's pymodbus, not pyenv's).

  --mode tcp | rtu-over-tcp | rtu     --port N (tcp modes, loopback)     --device PATH (rtu)
  --units JSON   {"1": {"holding": {"0": [1, 2]}, "input": {...}, "coil": {"0": [true]}, "discrete": {...}}}
  --strict       refuse (exception 2) any read or write touching an address not defined in --units

Control: one JSON object per line on stdin, one JSON reply per line on stdout ({"ok": true, ...} or
{"ok": false, "error": "..."}). The first stdout line is {"ready": true, "port": N}. EOF on stdin stops
the process (the test runner died). Commands ("op"):
  set     unit, table, address, values      define/overwrite values (bits as true/false)
  get     unit, table, address, count       -> values
  strict  value: bool                       switch hole refusal at run time
  fault   rule                              -> id; rules are checked in order, first match applies
  clear                                     remove all fault rules
  stats                                     -> requests (total), log (last 500: t, unit, fc, address, count)
  down / up                                 tcp modes: close the listener and every connection / listen again
  drop                                      tcp modes: close every client connection, keep listening

A fault rule matches requests by optional "unit", "fc", "address" + "count" (the request's range overlaps
[address, address+count)), skips the first "after" matches, then applies to "times" matches (default:
all). Actions ("action"):
  delay ms        answer ms late (the slave keeps reading requests meanwhile, like a slow device)
  silence         no answer
  exception code  answer with this exception code
  truncate keep   send only the first `keep` bytes of the answer
  mbap_length length   tcp: rewrite the MBAP length field
  tid_offset n    tcp: add n to the transaction id of the answer
  random n        send n random bytes instead of the answer
  garbage n       send n random bytes before the answer
  duplicate       send the answer twice
"""

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import deque

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext
from pymodbus.datastore.store import BaseModbusDataBlock
from pymodbus.server.async_io import (
    ModbusConnectedRequestHandler,
    ModbusSerialServer,
    ModbusSingleRequestHandler,
    ModbusTcpServer,
)
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

logging.basicConfig(level=logging.CRITICAL)

TABLES = ("coil", "discrete", "holding", "input")


class State:
    strict = False
    rules = []
    next_rule_id = 1
    requests = 0
    log = deque(maxlen=500)


class HoleyBlock(BaseModbusDataBlock):
    """Sparse values; with State.strict, a range touching an undefined address is refused."""

    def __init__(self, bits):
        self.values = {}
        self.default_value = False if bits else 0
        self.address = 0

    def validate(self, address, count=1):
        if address < 0 or address + count > 65536:
            return False
        if not State.strict:
            return True
        return all(a in self.values for a in range(address, address + count))

    def getValues(self, address, count=1):  # noqa: N802 (pymodbus' name)
        return [self.values.get(a, self.default_value) for a in range(address, address + count)]

    def setValues(self, address, values):  # noqa: N802
        if not isinstance(values, list):
            values = [values]
        for i, v in enumerate(values):
            self.values[address + i] = v


def make_slave():
    blocks = {t: HoleyBlock(t in ("coil", "discrete")) for t in TABLES}
    ctx = ModbusSlaveContext(
        co=blocks["coil"], di=blocks["discrete"], hr=blocks["holding"], ir=blocks["input"], zero_mode=True
    )
    return ctx, blocks


SLAVES = {}
CONTEXT = ModbusServerContext(slaves={}, single=False)


def slave(unit):
    if unit not in SLAVES:
        SLAVES[unit] = make_slave()
        CONTEXT[unit] = SLAVES[unit][0]
    return SLAVES[unit]


def set_values(unit, table, address, values):
    if table not in TABLES:
        raise ValueError(f"unknown table {table}")
    bits = table in ("coil", "discrete")
    slave(unit)[1][table].setValues(address, [bool(v) if bits else int(v) & 0xFFFF for v in values])


def request_range(request):
    address = getattr(request, "address", None)
    count = getattr(request, "count", None)
    if count is None:
        values = getattr(request, "values", None)
        count = len(values) if isinstance(values, list) else 1
    return address, count


def match_rule(request):
    address, count = request_range(request)
    for rule in State.rules:
        if "unit" in rule and rule["unit"] != request.unit_id:
            continue
        if "fc" in rule and rule["fc"] != request.function_code:
            continue
        if "address" in rule:
            lo = rule["address"]
            hi = lo + rule.get("count", 1)
            if address is None or address >= hi or address + count <= lo:
                continue
        rule["_seen"] = rule.get("_seen", 0) + 1
        if rule["_seen"] <= rule.get("after", 0):
            continue
        if "times" in rule:
            if rule.get("_used", 0) >= rule["times"]:
                continue
        rule["_used"] = rule.get("_used", 0) + 1
        return rule
    return None


class FaultMixin:
    """Applies the matching fault rule around pymodbus' own execute/encode."""

    _rule = None

    def execute(self, request, *addr):
        address, count = request_range(request)
        State.requests += 1
        State.log.append(
            {"t": time.time(), "unit": request.unit_id, "fc": request.function_code, "address": address, "count": count}
        )
        rule = match_rule(request)
        if rule is not None and rule["action"] == "silence":
            return
        if rule is not None and rule["action"] == "exception":
            response = request.doException(int(rule["code"]))
            response.transaction_id = request.transaction_id
            response.unit_id = request.unit_id
            self._rule = None
            self.send(response, *addr)
            return
        self._rule = rule
        try:
            super().execute(request, *addr)
        finally:
            self._rule = None

    def _send_(self, data):
        rule = self._rule
        delay = 0
        if rule is not None:
            action = rule["action"]
            if action == "delay":
                delay = rule["ms"] / 1000
            elif action == "truncate":
                data = data[: rule["keep"]]
            elif action == "mbap_length":
                data = data[:4] + int(rule["length"]).to_bytes(2, "big") + data[6:]
            elif action == "tid_offset":
                tid = (int.from_bytes(data[0:2], "big") + rule["n"]) & 0xFFFF
                data = tid.to_bytes(2, "big") + data[2:]
            elif action == "random":
                data = os.urandom(rule["n"])
            elif action == "garbage":
                data = os.urandom(rule["n"]) + data
            elif action == "duplicate":
                data = data + data
        transport = self.transport
        if transport is None:
            return
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, lambda: None if transport.is_closing() else transport.write(data))
        else:
            transport.write(data)


class TcpHandler(FaultMixin, ModbusConnectedRequestHandler):
    pass


class SerialHandler(FaultMixin, ModbusSingleRequestHandler):
    pass


class Peer:
    def __init__(self, args):
        self.args = args
        self.tcp = None
        self.tcp_task = None
        self.serial = None

    async def up(self):
        if self.args.mode == "rtu":
            self.serial = ModbusSerialServer(
                CONTEXT, framer=ModbusRtuFramer, port=self.args.device, baudrate=self.args.baud,
                handler=SerialHandler, ignore_missing_slaves=True,
            )
            await self.serial.start()
            return
        if self.tcp is not None:
            return
        framer = ModbusSocketFramer if self.args.mode == "tcp" else ModbusRtuFramer
        self.tcp = ModbusTcpServer(
            CONTEXT, framer=framer, address=("127.0.0.1", self.args.port), handler=TcpHandler,
            ignore_missing_slaves=True, allow_reuse_address=True,
        )
        self.tcp_task = asyncio.create_task(self.tcp.serve_forever())
        await asyncio.wait_for(self.tcp.serving, 5)

    def drop(self):
        if self.tcp is None:
            return
        for handler in list(self.tcp.active_connections.values()):
            handler.transport.close()

    async def down(self):
        if self.tcp is None:
            return
        self.drop()
        await self.tcp.server_close()
        self.tcp_task.cancel()
        self.tcp = None

    async def command(self, cmd):
        op = cmd.get("op")
        if op == "set":
            set_values(int(cmd["unit"]), cmd["table"], int(cmd["address"]), cmd["values"])
            return {}
        if op == "get":
            blocks = slave(int(cmd["unit"]))[1]
            return {"values": blocks[cmd["table"]].getValues(int(cmd["address"]), int(cmd.get("count", 1)))}
        if op == "strict":
            State.strict = bool(cmd["value"])
            return {}
        if op == "fault":
            rule = dict(cmd["rule"])
            rule["id"] = State.next_rule_id
            State.next_rule_id += 1
            State.rules.append(rule)
            return {"id": rule["id"]}
        if op == "clear":
            State.rules = []
            return {}
        if op == "stats":
            return {"requests": State.requests, "log": list(State.log)}
        if op == "down":
            await self.down()
            return {}
        if op == "up":
            await self.up()
            return {}
        if op == "drop":
            self.drop()
            return {}
        raise ValueError(f"unknown op {op}")


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("tcp", "rtu-over-tcp", "rtu"), required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--device", default="")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--units", default='{"1": {}}')
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    State.strict = args.strict
    for unit, tables in json.loads(args.units).items():
        slave(int(unit))
        for table, ranges in tables.items():
            for address, values in ranges.items():
                set_values(int(unit), table, int(address), values)
    peer = Peer(args)
    await peer.up()
    reply({"ready": True, "port": args.port})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            out = await peer.command(json.loads(line))
            reply({"ok": True, **out})
        except Exception as exc:  # noqa: BLE001 (report every failure to the test)
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    await peer.down()


if __name__ == "__main__":
    asyncio.run(main())
