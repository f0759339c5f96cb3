{#
    Helpers for the Customer.io export (models/exports): JSON text that is
    byte-identical on DuckDB and Spark, so that R21's action_id (a hash of
    the payload) is the same on every engine.
#}

{#
    A JSON string literal of a text expression (null stays null): backslash,
    double quote and the control characters \n \r \t escaped, the other
    control characters (U+0001-U+001F), which have no place in a trait,
    dropped, so that the text is always valid JSON. chr() keeps the escaping
    out of SQL string literals, whose backslash rules differ between DuckDB
    and Spark. Text with none of those characters (nearly all of it) skips
    the escaping: one regular expression test is ten times cheaper than the
    translate and five replaces it saves.
#}
{% macro json_string(expression) -%}
    {%- set dropped = [] -%}
    {%- for code in range(1, 32) if code not in [9, 10, 13] -%}
        {%- do dropped.append('chr(' ~ code ~ ')') -%}
    {%- endfor -%}
    (chr(34) || case
        when {{ matches_regex(expression, "'[' || chr(1) || '-' || chr(31) || chr(34) || chr(92) || chr(92) || ']'") }}
            then replace(replace(replace(replace(replace(
                translate({{ expression }}, {{ dropped | join(' || ') }}, ''),
                chr(92), chr(92) || chr(92)),
                chr(34), chr(92) || chr(34)),
                chr(10), chr(92) || 'n'),
                chr(13), chr(92) || 'r'),
                chr(9), chr(92) || 't')
        else {{ expression }}
    end || chr(34))
{%- endmacro %}

{# Whether a text expression contains a match of a regular expression (RE2 and Java syntax alike). #}
{% macro matches_regex(expression, pattern) -%}
    {{ return(adapter.dispatch('matches_regex', 'customerio_privacy')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_regex(expression, pattern) -%}
    regexp_matches({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro spark__matches_regex(expression, pattern) -%}
    ({{ expression }} rlike {{ pattern }})
{%- endmacro %}

{#
    A JSON string literal of a value from one of the project's closed
    vocabularies (a consent status, a suppression reason): words the models
    themselves write and accepted_values tests hold, which never need
    escaping. Quoting them without json_string's test halves the cost of an
    identify payload (fifteen such values per user).
#}
{% macro json_word(expression) -%}
    (chr(34) || {{ expression }} || chr(34))
{%- endmacro %}

{# A JSON boolean of a boolean expression; null when it is null. #}
{% macro json_boolean(expression) -%}
    (case when {{ expression }} then 'true' when not {{ expression }} then 'false' end)
{%- endmacro %}

{#
    Aggregate: the values joined with ',' in the order of order_key
    (string_agg ... order by on DuckDB; a sorted array of structs on Spark).
#}
{% macro ordered_join(value, order_key) -%}
    {{ return(adapter.dispatch('ordered_join', 'customerio_privacy')(value, order_key)) }}
{%- endmacro %}

{% macro default__ordered_join(value, order_key) -%}
    string_agg({{ value }}, ',' order by {{ order_key }})
{%- endmacro %}

{% macro spark__ordered_join(value, order_key) -%}
    array_join(
        transform(
            array_sort(collect_list(named_struct('sort_key', {{ order_key }}, 'item', {{ value }}))),
            entry -> entry.item
        ),
        ','
    )
{%- endmacro %}

{# One row per element of an array expression, in a select list. #}
{% macro explode_array(expression) -%}
    {{ return(adapter.dispatch('explode_array', 'customerio_privacy')(expression)) }}
{%- endmacro %}

{% macro default__explode_array(expression) -%}
    unnest({{ expression }})
{%- endmacro %}

{% macro spark__explode_array(expression) -%}
    explode({{ expression }})
{%- endmacro %}

{#
    Pivot rows to one column per value: for each value v of `values`, and
    each (field, suffix) of `fields`, max(case when key_column = 'v' then
    field end) as v_suffix. For models grouped by user.
#}
{% macro pivot_columns(key_column, values, fields) -%}
    {%- set columns = [] -%}
    {%- for value in values -%}
        {%- for field, suffix in fields -%}
            {%- do columns.append(
                "max(case when " ~ key_column ~ " = '" ~ value ~ "' then " ~ field ~ " end) as "
                ~ value ~ "_" ~ suffix
            ) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ columns | join(',\n        ') }}
{%- endmacro %}

{#
    R19: the privacy traits of an identify as JSON object members, written
    as the arguments of one concat() (none of them null: one concatenation
    per payload instead of one per piece), in a fixed order: unsubscribed,
    then per channel <channel>_suppressed and <channel>_suppression_reason,
    per consent type consent_<type>, then the subscription topic of each
    mapped consent type (true only when granted and not expired). Reads the pivoted columns of customerio_actions
    (users.<channel>_suppressed / _reason, consents.<type>_status /
    _granted, topics.<type>_topic).
#}
{% macro privacy_traits_json(channels, consent_types, topic_prefix) -%}
    {%- set pieces = ["'\"unsubscribed\":'", "coalesce(" ~ json_boolean('users.email_suppressed') ~ ", 'null')"] -%}
    {%- for channel in channels -%}
        {%- do pieces.append("',\"" ~ channel ~ "_suppressed\":'") -%}
        {%- do pieces.append("coalesce(" ~ json_boolean('users.' ~ channel ~ '_suppressed') ~ ", 'null')") -%}
        {%- do pieces.append("',\"" ~ channel ~ "_suppression_reason\":'") -%}
        {%- do pieces.append("coalesce(" ~ json_word('users.' ~ channel ~ '_reason') ~ ", 'null')") -%}
    {%- endfor -%}
    {%- for consent_type in consent_types -%}
        {%- do pieces.append("',\"consent_" ~ consent_type ~ "\":'") -%}
        {%- do pieces.append("coalesce(" ~ json_word('consents.' ~ consent_type ~ '_status') ~ ", 'null')") -%}
    {%- endfor -%}
    {%- for consent_type in consent_types -%}
        {%- do pieces.append(
            "coalesce(',\"" ~ topic_prefix ~ "' || topics." ~ consent_type ~ "_topic || '\":' || "
            ~ "case when consents." ~ consent_type ~ "_granted then 'true' else 'false' end, '')"
        ) -%}
    {%- endfor -%}
    {{ pieces | join(',\n        ') }}
{%- endmacro %}

{#
    R18: the retention traits of an identify as JSON object members (each
    with a leading comma), by the deletion strategy of the user's due
    profile policy: anonymize nulls `pii_traits` and sets anonymized_at;
    pseudonymize asks the connector for keyed pseudonyms of
    `pseudonymized_traits` and sets pseudonymized_at. Empty otherwise.
#}
{% macro retention_traits_json(strategy, expires_at, pii_traits, pseudonymized_traits) -%}
    {%- set anonymized = [] -%}
    {%- for trait in pii_traits -%}
        {%- do anonymized.append(',"' ~ trait ~ '":null') -%}
    {%- endfor -%}
    {%- set pseudonymized = [] -%}
    {%- for trait in pseudonymized_traits -%}
        {%- do pseudonymized.append(',"' ~ trait ~ '":{"$pseudonymize":"' ~ trait ~ '"}') -%}
    {%- endfor -%}
    case {{ strategy }}
        when 'anonymize' then ',"anonymized_at":' || {{ json_string(timestamp_text(expires_at)) }}
            || '{{ anonymized | join("") }}'
        when 'pseudonymize' then ',"pseudonymized_at":' || {{ json_string(timestamp_text(expires_at)) }}
            || '{{ pseudonymized | join("") }}'
        else ''
    end
{%- endmacro %}

{# The traits R19 and R18 set themselves, as a SQL list: a rectification cannot set them. #}
{% macro reserved_traits(channels, consent_types) -%}
    {%- set names = ['unsubscribed', 'anonymized_at', 'pseudonymized_at'] -%}
    {%- for channel in channels -%}
        {%- do names.append(channel ~ '_suppressed') -%}
        {%- do names.append(channel ~ '_suppression_reason') -%}
    {%- endfor -%}
    {%- for consent_type in consent_types -%}
        {%- do names.append('consent_' ~ consent_type) -%}
    {%- endfor -%}
    {{ sql_list(names) }}
{%- endmacro %}

{# A SQL list of string literals: ('a', 'b'). The values are names, never quoted text. #}
{% macro sql_list(values) -%}
    ('{{ values | join("', '") }}')
{%- endmacro %}
