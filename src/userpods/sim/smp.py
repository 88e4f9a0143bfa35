"""Strategic merge patch, as the apiserver applies it (apimachinery's ``strategicpatch``).

Each list merges by the ``patchMergeKey`` of its own Go type (``smp_schema.py``), not by a key
guessed from the field's name: a Service's ``spec.ports`` by ``port``, a container's ``ports``
by ``containerPort``. Lists without a strategy are replaced whole; lists of scalars with one
(``finalizers``) merge as sets. The result keeps the apiserver's element order: the patch's
items in the patch's order, with the items only the server had slotted in by their old order.
Directives: ``$patch: replace|delete`` (in maps and list items), ``$retainKeys``,
``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>``. Malformed patches get
the apiserver's answers (400 for a bad directive format, a bare 500 for the others).
"""

from __future__ import annotations

from typing import Any

from .smp_schema import Field, lookup
from .status import ApiError, bad_request
from .store import clone

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def _go(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value, for error messages."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def internal(message: str) -> ApiError:
    return ApiError(500, message, bare=True)


def strategic_merge_patch(target: Any, patch: Any, type_name: str) -> Any:
    """Apply ``patch`` to (a copy of) ``target``, whose Go type is ``type_name``."""
    if not isinstance(patch, dict):
        raise bad_request("the patch is not a JSON object")
    original = clone(target) if isinstance(target, dict) else {}
    return merge_map(original, clone(patch), type_name)


def merge_map(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> Any:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            del patch[DIRECTIVE]
            return patch
        if directive == "delete":
            return {}
        raise internal(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
    _retain_keys(original, patch)
    _set_element_orders(original, patch, type_name)
    for key, value in patch.items():
        delete_list = key.startswith(DELETE_PRIMITIVE)
        if delete_list:
            key = key[len(DELETE_PRIMITIVE) :]
        if value is None:
            original.pop(key, None)
            continue  # the apiserver ignores nulls that match nothing
        meta = lookup(type_name, key)
        if key not in original or _kind(original[key]) != _kind(value):
            if not delete_list:
                kept, keep = remove_directives(value)
                if keep:
                    original[key] = kept
                else:
                    original.pop(key, None)
            continue
        if isinstance(value, dict):
            original[key] = merge_map(original[key], value, meta.type)
        elif isinstance(value, list):
            if meta.strategy == "merge" or delete_list:
                original[key] = merge_list(original[key], value, meta, delete_list)
            else:
                original[key] = value
        else:
            kept, _ = remove_directives(value)
            original[key] = kept
    return original


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    keys = patch.pop(RETAIN_KEYS)
    if not isinstance(keys, list):
        raise bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_PRIMITIVE, SET_ORDER)):
            continue
        if key not in keys:
            raise bad_request("invalid patch format of retainKeys")
    for key in list(original):
        if key not in keys:
            del original[key]


def remove_directives(value: Any) -> tuple[Any, bool]:
    """The value without directive-carrying maps (which are dropped), and whether to keep it."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out = {}
        for key, item in value.items():
            kept, keep = remove_directives(item)
            if keep:
                out[key] = kept
        return out, True
    if isinstance(value, list):
        return [kept for kept, keep in map(remove_directives, value) if keep], True
    return value, True


def _key_of(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _index(items: list[Any], item: Any, key: str) -> int:
    wanted = _key_of(item, key) if key else item
    for i, candidate in enumerate(items):
        if (_key_of(candidate, key) if key else candidate) == wanted:
            return i
    return -1


def _dedupe(items: list[Any]) -> list[Any]:
    """apimachinery's in-place deduplication: a duplicate is overwritten by the last item."""
    s = list(items)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if s[i] == s[j]:
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def merge_list(original: list[Any], patch: list[Any], meta: Field, delete_list: bool) -> Any:
    if not original and not patch:
        return original
    maps = _element_kind(original + patch) == "map"
    key = meta.merge_key
    if not maps:
        if delete_list:
            return [item for item in original if item not in patch]
        merged = _dedupe(original + patch)
        key = ""
    else:
        if not key:
            raise internal(f"cannot merge lists without merge key for {meta.type or 'list'}")
        original, patch = _special_elements(original, patch, key)
        merged = list(original)
        for item in patch:
            if key not in item:
                raise internal(f"map: {_go(item)} does not contain declared merge key: {key}")
            index = _index(merged, item, key)
            if index >= 0:
                merged[index] = merge_map(merged[index], item, meta.type)
            else:
                merged.append(item)
    in_patch = [m for m in merged if _index(patch, m, key) >= 0]
    server_only = [m for m in merged if _index(patch, m, key) < 0]
    return _order(in_patch, server_only, patch, original, key)


def _element_kind(items: list[Any]) -> str:
    kinds = {_kind(item) for item in items}
    if len(kinds) > 1:
        raise internal("all elements of a list must be of the same type")
    return kinds.pop() if kinds else ""


def _special_elements(
    original: list[Any], patch: list[Any], key: str
) -> tuple[list[Any], list[Any]]:
    plain: list[Any] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict) or DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise internal(f"map: {_go(item)} does not contain declared merge key: {key}")
            original = [o for o in original if _key_of(o, key) != item[key]]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise internal("merging lists cannot yet be specified in the patch")
        else:
            raise internal(f"unknown patch type: {_go(directive)} in map: {_go(item)}")
    if replace:
        return plain, []
    return original, plain


def _order(
    in_patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    key: str,
) -> list[Any]:
    """normalizeElementOrder: patch items by the patch's order, server-only items by the
    server's, then the server-only items slotted into the patch items by the server's order."""
    right = sorted(in_patch, key=lambda m: _index(patch_order, m, key))
    left = sorted(server_only, key=lambda m: _index(server_order, m, key))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li, ri = _index(server_order, left[i], key), _index(server_order, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _set_element_orders(
    original: dict[str, Any], patch: dict[str, Any], type_name: str | None
) -> None:
    for directive in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive)
        name = directive[len(SET_ORDER) :]
        if not isinstance(order, list):
            raise bad_request("invalid patch format of setElementOrder list")
        meta = lookup(type_name, name)
        key = meta.merge_key
        had, sent = name in original, name in patch
        current = original.get(name) if had else None
        wanted = patch.get(name) if sent else None
        if (had and not isinstance(current, list)) or (sent and not isinstance(wanted, list)):
            raise bad_request("invalid patch format of setElementOrder list")
        _check_order(wanted or [], order, key)
        if had and not sent:
            merged = current
        elif sent and not had:
            merged, _ = remove_directives(wanted)
        elif had and sent:
            merged = (
                merge_list(current or [], wanted or [], meta, False)
                if meta.strategy == "merge"
                else wanted
            )
        else:
            continue
        merged = merged or []
        in_order = [m for m in merged if _index(order, m, key) >= 0]
        server_only = [m for m in merged if _index(order, m, key) < 0]
        original[name] = _order(in_order, server_only, order, current or [], key)
        patch.pop(name, None)


def _check_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    items = [p for p in patch_list if not (isinstance(p, dict) and DIRECTIVE in p)]
    i = j = 0
    while i < len(items) and j < len(order):
        if (_key_of(items[i], key) if key else items[i]) == (
            _key_of(order[j], key) if key else order[j]
        ):
            i += 1
        j += 1
    if i < len(items):
        raise internal(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match $setElementOrder "
            f"list:\n{_go(order)}\n"
        )
