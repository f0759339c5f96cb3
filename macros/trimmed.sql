{#
    Text without the spaces around it, null when nothing is left, the same
    on every engine. A space is any Unicode space separator (category Zs:
    U+0020, the no-break space U+00A0, U+1680, U+2000 to U+200A, U+202F,
    U+205F and the ideographic space U+3000), which is what DuckDB's trim()
    strips; tabs and line breaks are not spaces. Spark's and Databricks'
    trim() strip U+0020 only, so there the set is spelled out.

    On DuckDB, trim() decodes every character of every value to find those
    spaces and copies the result (a
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

{% macro spark__trimmed(text) -%}
    nullif(trim(both {{ unicode_spaces() }} from {{ text }}), '')
{%- endmacro %}

{#
    Every space separator (Zs) as one Spark SQL string, from its UTF-8 bytes:
    U+0020, U+00A0, U+1680, U+2000 to U+200A, U+202F, U+205F, U+3000.
    Bytes rather than \u escapes in a literal, which Databricks SQL does not
    document; the optimizer folds the expression into a constant.
#}
{% macro unicode_spaces() -%}
    decode(unhex('20C2A0E19A80E28080E28081E28082E28083E28084E28085E28086E28087E28088E28089E2808AE280AFE2819FE38080'), 'UTF-8')
{%- endmacro %}

{% macro duckdb__trimmed(text) -%}
    case
        when strlen({{ text }}) = length({{ text }}) and not (prefix({{ text }}, ' ') or suffix({{ text }}, ' '))
            then nullif({{ text }}, '')
        else nullif(trim({{ text }}), '')
    end
{%- endmacro %}
