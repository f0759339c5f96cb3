{#
    R3: "latest" means last when ordered by event_timestamp, then
    processed_at, then event_id. Nulls sort first (earliest) on every engine:
    DuckDB and Spark disagree on the default, so it is always spelled out.
#}
{% macro latest_first(prefix='') -%}
    {{ prefix }}event_timestamp desc nulls last,
    {{ prefix }}processed_at desc nulls last,
    {{ prefix }}event_id desc nulls last
{%- endmacro %}

{% macro earliest_first(prefix='') -%}
    {{ prefix }}event_timestamp asc nulls first,
    {{ prefix }}processed_at asc nulls first,
    {{ prefix }}event_id asc nulls first
{%- endmacro %}
