"""moto's server, made faithful and fast enough for this project's tests.

Two changes to moto 5.2's DynamoDB, both in this launcher:

1. One request at a time. moto applies the actions of an UpdateItem without a lock, so two concurrent
   ADDs to one item can lose one (seen here: 39 hours recorded for 40 one-hour sessions of one
   account). DynamoDB serializes the writes to an item; serializing the emulator gives the tests the
   same guarantee, while connections stay threaded (keep-alive works).
2. TransactWriteItems rolls back only the items it touched. moto deep-copies the whole table once per
   action of every transaction to be able to roll back, which makes a test of 10,000 events
   quadratic (minutes per thousand events). Here the touched items are snapshotted before the
   transaction and restored if it fails: the same all-or-nothing outcome.
3. A Query reads only what its hash key selects. moto sorts every item of the table for each Query
   (then filters); DynamoDB reads one partition of the table or index. Table queries read the
   partition; index queries pass on, unsorted, only the items whose index hash key matches (moto
   then sorts those), so a run over 10,000 accounts stays linear.

And one addition: `GET /_local/ses/messages` lists the email SES accepted (id, source, destinations,
subject, body: moto keeps only the HTML body when both are sent), so tests can read what was sent
without moto's data.json, which serializes every model instance ever created.

Usage: python moto_server.py HOST PORT
"""

import copy
import json
import os
import sys
import threading
import types

import moto.dynamodb.models as ddb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def _deepcopy_except_tables(obj, memo=None):
    return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)


ddb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_except_tables)
_original_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    snapshots = []
    for action in transact_items:
        _, op = next(iter(action.items()))
        table = self.tables.get(op.get("TableName"))
        if table is None:
            continue
        keys = op.get("Key")
        if keys is None:
            item = op.get("Item", {})
            keys = {k: item[k] for k in (table.hash_key_attr, table.range_key_attr) if k and k in item}
        try:
            hash_key, range_key = self.get_keys_value(table, keys)
        except Exception:  # moto raises the validation error itself, below
            continue
        old = table.get_item(hash_key, range_key)
        snapshots.append((table, hash_key, range_key, copy.deepcopy(old) if old is not None else None))
    try:
        return _original_transact_write_items(self, transact_items)
    except Exception:
        for table, hash_key, range_key, old in reversed(snapshots):
            if range_key is None:
                if old is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = old
            elif old is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = old
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

_original_query = Table.query
_original_all_items = Table.all_items
_partition = threading.local()


def _all_items(self):
    index_key = getattr(_partition, "index_key", None)
    if index_key is not None:
        name, value = index_key
        found = []
        for part in self.items.values():
            for item in (part.values() if self.range_key_attr else [part]):
                v = item.attrs.get(name)
                if v is not None and v == value:
                    found.append(item)
        return found
    hash_key = getattr(_partition, "hash_key", None)
    if hash_key is None:
        return _original_all_items(self)
    found = self.items.get(hash_key)
    if not found:
        return []
    items = list(found.values()) if self.range_key_attr else [found]
    return sorted(items, key=lambda x: x.range_key) if self.range_key_attr else items


def _query(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    conditions = kwargs.get("hash_key_conditions") or []
    if index_name and len(conditions) == 1:
        _partition.index_key = conditions[0]
        try:
            return _original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.index_key = None
    if index_name or hash_key is None:
        return _original_query(self, hash_key, *args, **kwargs)
    _partition.hash_key = hash_key
    try:
        return _original_query(self, hash_key, *args, **kwargs)
    finally:
        _partition.hash_key = None


Table.all_items = _all_items
Table.query = _query


def sent_messages(start_response):
    messages = []
    for region, backend in ses_backends[DEFAULT_ACCOUNT_ID].items():
        for m in backend.sent_messages:
            messages.append({
                "id": m.id,
                "region": region,
                "source": m.source,
                "destinations": getattr(m, "destinations", None),
                "subject": getattr(m, "subject", None),
                "body": getattr(m, "body", None),
            })
    body = json.dumps(messages).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            if environ.get("PATH_INFO") == "/_local/ses/messages":
                return sent_messages(start_response)
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
