{#
    Small cross-engine helpers of the compliance metrics (R8, contracts.md
    compliance_metrics_daily).
#}

{#
    The text at a JSON path ('$.email_suppressed') of a JSON text column;
    null when the path is missing or the text is not JSON (Spark's
    get_json_object already answers null; DuckDB would raise, hence
    try_cast). A JSON true comes back as the text 'true' on both engines.
#}
{% macro json_text(json_column, path) -%}
    {{ return(adapter.dispatch('json_text', 'customerio_privacy')(json_column, path)) }}
{%- endmacro %}

{% macro default__json_text(json_column, path) -%}
    json_extract_string(try_cast({{ json_column }} as json), '{{ path }}')
{%- endmacro %}

{% macro spark__json_text(json_column, path) -%}
    get_json_object({{ json_column }}, '{{ path }}')
{%- endmacro %}

{#
    The latest non-null value of `expression` in a window frame:
    last_value ignoring nulls, which the two dialects spell differently.
    Write the over (...) clause after it.
#}
{% macro last_value_ignoring_nulls(expression) -%}
    {{ return(adapter.dispatch('last_value_ignoring_nulls', 'customerio_privacy')(expression)) }}
{%- endmacro %}

{% macro default__last_value_ignoring_nulls(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}

{% macro spark__last_value_ignoring_nulls(expression) -%}
    last_value({{ expression }}, true)
{%- endmacro %}

{#
    One row per day from first_day to last_day (dates, both included), in a
    column named `column_name`; no rows when either bound is null. Selects
    from `relation`, a one-row CTE holding the bounds.
#}
{% macro day_spine(first_day, last_day, relation, column_name) -%}
    {{ return(adapter.dispatch('day_spine', 'customerio_privacy')(first_day, last_day, relation, column_name)) }}
{%- endmacro %}

{% macro default__day_spine(first_day, last_day, relation, column_name) -%}
    select
        cast(
            unnest(generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day))
            as date
        ) as {{ column_name }}
    from {{ relation }}
{%- endmacro %}

{% macro spark__day_spine(first_day, last_day, relation, column_name) -%}
    select explode(sequence({{ first_day }}, {{ last_day }}, interval 1 day)) as {{ column_name }}
    from {{ relation }}
{%- endmacro %}
