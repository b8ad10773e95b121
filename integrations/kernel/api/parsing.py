"""Reading request input: JSON bodies (nesting limit, no NUL or lone surrogates), query-string
filters, and bodies checked by a serializer."""

import json
import re

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from integrations.kernel.errors import InvalidRequest

# No request this API takes nests half as deep; deeper is an attack on the parser (or a bug).
MAX_JSON_DEPTH = 32
# PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(param: str) -> InvalidRequest:
    where = param or "the body"
    return InvalidRequest(
        f"{where} holds a NUL character or a lone surrogate, which text cannot.",
        code="parameter_invalid",
        param=param or None,
    )


def json_checked(data):
    """`data` (parsed JSON) if it nests at most MAX_JSON_DEPTH deep and no string in it, key or value,
    holds NUL or a lone surrogate. Walked without recursion, whatever its depth."""
    stack = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                raise _unstorable(path)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                if _UNSTORABLE.search(key):
                    raise _unstorable(path)  # the key itself cannot be named
                stack.append((item, depth + 1, f"{path}.{key}" if path else key))
        else:
            stack.extend((item, depth + 1, f"{path}[{index}]") for index, item in enumerate(value))
    return data


def json_body_loads(body: bytes, encoding: str = "utf-8"):
    """A raw JSON body parsed and checked (json_checked); ParseError when it is not JSON."""
    try:
        return json_checked(json.loads(body.decode(encoding), parse_constant=_refuse_constant))
    except RecursionError:  # nested past Python's own limit, long before MAX_JSON_DEPTH is checked
        raise ParseError(f"The body nests deeper than {MAX_JSON_DEPTH} levels.") from None
    except (ValueError, LookupError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ParseError(f"JSON parse error - {error}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class ApiJSONParser(JSONParser):
    """DRF's JSON parser with the checks of json_checked: the API's one way of reading a body."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        return json_body_loads(stream.read() if stream is not None else b"", encoding)


def validated_data(serializer_class, request, **kwargs) -> dict:
    """The request body checked by a serializer (types and shapes; business rules live in services)."""
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_query(serializer_class, request) -> dict:
    """The query-string filters checked by a serializer: a NUL, an unknown choice, a malformed id or
    a wrong type is 400 `parameter_invalid` naming the parameter, never a query the database refuses.
    Parameters not given are left out."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def id_filter(prefix: str, **kwargs) -> serializers.RegexField:
    """A filter by an object's id (`cus_...`): an unknown id matches nothing, text that cannot be an
    id of that kind is 400."""
    return serializers.RegexField(
        rf"^{prefix}_[0-9A-Za-z]{{1,60}}$",
        required=False,
        max_length=len(prefix) + 61,
        error_messages={"invalid": f"Not a {prefix}_ id."},
        **{"help_text": f"A `{prefix}_` id.", **kwargs},
    )


def choice_filter(choices, **kwargs) -> serializers.ChoiceField:
    """A filter by one of a field's values; empty means no filter."""
    return serializers.ChoiceField(choices=choices, required=False, allow_blank=True, **kwargs)


def text_filter(max_length: int, **kwargs) -> serializers.CharField:
    """A filter by exact text, as long as the column it is compared with."""
    return serializers.CharField(
        required=False, allow_blank=True, max_length=max_length, trim_whitespace=False, **kwargs
    )
