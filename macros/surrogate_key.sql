{#
    A stable identifier from a list of SQL expressions: the md5 (hex) of
    the parts cast to text and joined with '|', a null written as
    '<null>' so that (null, 'a') and ('a', null) differ. md5, concat_ws
    and the text of strings and integers are the same on DuckDB, Spark and
    Databricks, so the key is too. Timestamps are not: pass them through
    timestamp_text() first.
#}
{% macro surrogate_key(parts) -%}
    md5(concat_ws('|'
    {%- for part in parts -%}
        , coalesce(cast({{ part }} as {{ dbt.type_string() }}), '<null>')
    {%- endfor -%}
    ))
{%- endmacro %}

{# A timestamp as 'YYYY-MM-DD HH:MM:SS.ffffff', the same text on every engine. #}
{% macro timestamp_text(timestamp) -%}
    {{ return(adapter.dispatch('timestamp_text', 'customerio_privacy')(timestamp)) }}
{%- endmacro %}

{% macro default__timestamp_text(timestamp) -%}
    strftime({{ timestamp }}, '%Y-%m-%d %H:%M:%S.%f')
{%- endmacro %}

{% macro spark__timestamp_text(timestamp) -%}
    date_format({{ timestamp }}, 'yyyy-MM-dd HH:mm:ss.SSSSSS')
{%- endmacro %}
