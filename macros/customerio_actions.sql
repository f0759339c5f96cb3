{#
    Helpers for the Customer.io export (models/exports): JSON text that is
    byte-identical on DuckDB and Spark, so that R21's action_id (a hash of
    the payload) is the same on every engine.
#}

{#
    A JSON string literal of a text expression (null stays null): backslash,
    double quote and the control characters \n \r \t escaped, the other
    control characters (U+0001-U+001F), which have no place in a trait,
    dropped, so that the text is always valid JSON. chr() keeps the escaping
    out of SQL string literals, whose backslash rules differ between DuckDB
    and Spark.
#}
{% macro json_string(expression) -%}
    {%- set dropped = [] -%}
    {%- for code in range(1, 32) if code not in [9, 10, 13] -%}
        {%- do dropped.append('chr(' ~ code ~ ')') -%}
    {%- endfor -%}
    (chr(34) || replace(replace(replace(replace(replace(
        translate({{ expression }}, {{ dropped | join(' || ') }}, ''),
        chr(92), chr(92) || chr(92)),
        chr(34), chr(92) || chr(34)),
        chr(10), chr(92) || 'n'),
        chr(13), chr(92) || 'r'),
        chr(9), chr(92) || 't') || chr(34))
{%- endmacro %}

{# A JSON boolean of a boolean expression; null when it is null. #}
{% macro json_boolean(expression) -%}
    (case when {{ expression }} then 'true' when not {{ expression }} then 'false' end)
{%- endmacro %}

{#
    Aggregate: the values joined with ',' in the order of order_key
    (string_agg ... order by on DuckDB; a sorted array of structs on Spark).
#}
{% macro ordered_join(value, order_key) -%}
    {{ return(adapter.dispatch('ordered_join', 'customerio_privacy')(value, order_key)) }}
{%- endmacro %}

{% macro default__ordered_join(value, order_key) -%}
    string_agg({{ value }}, ',' order by {{ order_key }})
{%- endmacro %}

{% macro spark__ordered_join(value, order_key) -%}
    array_join(
        transform(
            array_sort(collect_list(named_struct('sort_key', {{ order_key }}, 'item', {{ value }}))),
            entry -> entry.item
        ),
        ','
    )
{%- endmacro %}

{# One row per element of an array expression, in a select list. #}
{% macro explode_array(expression) -%}
    {{ return(adapter.dispatch('explode_array', 'customerio_privacy')(expression)) }}
{%- endmacro %}

{% macro default__explode_array(expression) -%}
    unnest({{ expression }})
{%- endmacro %}

{% macro spark__explode_array(expression) -%}
    explode({{ expression }})
{%- endmacro %}
