{#
    The one clock of the project. Every model that depends on "now" calls
    as_of(), so that a build can be replayed for any date (var as_of) and
    tests are deterministic. Empty var: the moment the run started, in UTC, to the microsecond.
#}
{% macro as_of() -%}
    {%- set value = var('as_of', '') | string | trim -%}
    {%- if value == '' or value == 'None' -%}
        {#- to the microsecond: what was written before the run started is before as_of -#}
        {%- set value = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- elif not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error("var as_of must be a UTC timestamp written 'YYYY-MM-DD HH:MM:SS', got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ value }}' as timestamp)
{%- endmacro %}
