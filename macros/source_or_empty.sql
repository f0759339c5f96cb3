{#
    A source table that may not exist yet. The connector creates
    customerio_acks and customerio_sync_runs on its first sync, so a new
    lakehouse has neither; contracts.md: "an empty acks table means nothing
    was ever delivered". Renders `select * from <table>` when the table
    exists at execution time, otherwise a typed select of no rows with the
    columns (and data_types) declared for the table in its sources yml, so
    the declaration stays in one place.

    Calling source() here (also at parse time, when the existence check is
    skipped) keeps the lineage: the model still depends on the source in
    the DAG, freshness and docs.
#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- set existing = none -%}
    {%- if execute -%}
        {%- set existing = adapter.get_relation(
            database=declared.database,
            schema=declared.schema,
            identifier=declared.identifier
        ) -%}
    {%- endif -%}

    {%- if existing is not none or not execute -%}
        select * from {{ declared }}
    {%- else -%}
        {%- set columns = declared_source_columns(source_name, table_name) -%}
        select
        {%- for column in columns %}
            cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#
    The columns of a source table as its yml declares them, in order. Each
    needs a data_type that every engine understands (string, bigint,
    boolean, timestamp, double): they type the empty stand-in.
#}
{% macro declared_source_columns(source_name, table_name) -%}
    {%- set columns = [] -%}
    {%- for node in graph.sources.values()
        if node.source_name == source_name and node.name == table_name -%}
        {%- for column in node.columns.values() -%}
            {%- if not column.data_type -%}
                {{ exceptions.raise_compiler_error(
                    "source " ~ source_name ~ "." ~ table_name ~ ": column " ~ column.name
                    ~ " needs a data_type, which types the empty stand-in of a missing table"
                ) }}
            {%- endif -%}
            {%- do columns.append({'name': column.name, 'data_type': column.data_type}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "source " ~ source_name ~ "." ~ table_name ~ " declares no columns; source_or_empty needs them"
        ) }}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}
