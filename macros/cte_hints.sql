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
    {{ 'not materialized' if target.type == 'duckdb' else '' }}
{%- endmacro %}

{% macro materialized_cte() -%}
    {{ 'materialized' if target.type == 'duckdb' else '' }}
{%- endmacro %}
