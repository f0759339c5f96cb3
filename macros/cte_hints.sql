{#
    Hints for DuckDB's planner, written after `name as` in a WITH clause;
    nothing on Spark and Databricks, whose SQL has no such words.

    DuckDB copies every row of a CTE read more than once into a buffer before
    its readers run. For a cheap projection of a large table that copy costs
    more than computing the projection again for each reader, and it hides the
    readers' filters from the scan below it: `inlined_cte()` asks for the CTE
    to be planned into each reader. `materialized_cte()` asks for the copy,
    for a small result that is expensive to compute.
#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'customerio_privacy')()) }}
{%- endmacro %}

{% macro default__inlined_cte() -%}
{%- endmacro %}

{% macro duckdb__inlined_cte() -%}
    not materialized
{%- endmacro %}

{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'customerio_privacy')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}
