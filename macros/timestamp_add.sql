{#
    Adds a whole number of units to a timestamp, keeping microseconds and
    passing nulls through (dbt.dateadd on Spark does neither). Months clamp to
    the end of a shorter month on both engines: 31 January + 1 month is the
    last day of February (R10).
#}
{% macro timestamp_add(unit, amount, timestamp) -%}
    {{ return(adapter.dispatch('timestamp_add', 'customerio_privacy')(unit, amount, timestamp)) }}
{%- endmacro %}

{% macro default__timestamp_add(unit, amount, timestamp) -%}
    ({{ timestamp }} + interval ({{ amount }}) {{ unit }})
{%- endmacro %}

{% macro spark__timestamp_add(unit, amount, timestamp) -%}
    timestampadd({{ unit | upper }}, {{ amount }}, {{ timestamp }})
{%- endmacro %}
