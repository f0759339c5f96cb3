{#
    A primary key: every row has one and no two rows share it. A failing
    row is the key with its row count; a null key shows as null.

    On DuckDB the keys are first grouped by a 64-bit hash, which is much
    cheaper than grouping eleven million strings; only the keys of a hash
    shared by two rows or held by a null key are grouped again exactly. In
    a sound model that second pass finds nothing to read (a join with an
    empty side is skipped), so the test reads the model once (a view's
    query runs once). A hash collision only costs the exact check of the
    keys that collide. Elsewhere: one plain grouping.
#}
{% test primary_key(model, column_name) %}
    {{ return(adapter.dispatch('test_primary_key', 'customerio_privacy')(model, column_name)) }}
{% endtest %}

{% macro default__test_primary_key(model, column_name) %}

    select
        {{ column_name }},
        count(*) as rows_with_this_key
    from {{ model }}
    group by {{ column_name }}
    having count(*) > 1 or {{ column_name }} is null

{% endmacro %}

{% macro duckdb__test_primary_key(model, column_name) %}

    with

    keyed as not materialized (
        select {{ column_name }} as key_value, hash({{ column_name }}) as key_hash
        from {{ model }}
    ),

    suspects as (
        select key_hash
        from keyed
        group by key_hash
        having count(*) > 1 or bool_or(key_value is null)
    )

    select
        key_value as {{ column_name }},
        count(*) as rows_with_this_key
    from keyed
    where key_hash in (select key_hash from suspects)
    group by key_value
    having count(*) > 1 or key_value is null

{% endmacro %}
