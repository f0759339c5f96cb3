{#
    A composite primary key: no two rows share the same values of
    combination (a list of column names). Nulls count as values, so a key
    with a null part is caught by the key's not_null tests, not hidden here.

    On DuckDB the rows are first grouped by a 64-bit hash of the
    combination, and only the combinations of a hash shared by two rows are
    grouped again exactly (see primary_key.sql). Elsewhere: one plain
    grouping.
#}
{% test unique_combination_of_columns(model, combination) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'customerio_privacy')(model, combination)) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, combination) %}

    select
        {{ combination | join(', ') }},
        count(*) as rows_with_this_key
    from {{ model }}
    group by {{ combination | join(', ') }}
    having count(*) > 1

{% endmacro %}

{% macro duckdb__test_unique_combination_of_columns(model, combination) %}

    with

    keyed as not materialized (
        select {{ combination | join(', ') }}, hash({{ combination | join(', ') }}) as key_hash
        from {{ model }}
    ),

    suspects as (
        select key_hash
        from keyed
        group by key_hash
        having count(*) > 1
    )

    select
        {{ combination | join(', ') }},
        count(*) as rows_with_this_key
    from keyed
    where key_hash in (select key_hash from suspects)
    group by {{ combination | join(', ') }}
    having count(*) > 1

{% endmacro %}
