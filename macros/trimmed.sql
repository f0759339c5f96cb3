{#
    Text without the spaces around it, null when nothing is left: what
    nullif(trim(text), '') gives, on every engine.

    DuckDB's trim() strips any Unicode space (U+0020, U+00A0, U+3000, ...),
    so it decodes every character of every value and copies the result (a
    new string for every id longer than twelve bytes). A value of ASCII
    characters only (as many bytes as characters) can only be padded with
    U+0020, so one with no U+0020 at either end is taken as it is, and only
    the others are trimmed: the same result, without decoding or copying
    the ids that need nothing.
#}
{% macro trimmed(text) -%}
    {{ return(adapter.dispatch('trimmed', 'customerio_privacy')(text)) }}
{%- endmacro %}

{% macro default__trimmed(text) -%}
    nullif(trim({{ text }}), '')
{%- endmacro %}

{% macro duckdb__trimmed(text) -%}
    case
        when strlen({{ text }}) = length({{ text }}) and not (prefix({{ text }}, ' ') or suffix({{ text }}, ' '))
            then nullif({{ text }}, '')
        else nullif(trim({{ text }}), '')
    end
{%- endmacro %}
