{#
    Deadline arithmetic for data subject requests (R10, R11). Calendar months
    are timestamp_add('month', n, ts), which clamps to the end of a shorter
    month on every engine (31 January + 1 month = 28 or 29 February).
#}

{#
    ISO day of the week, 1 = Monday ... 7 = Sunday. DuckDB's dayofweek and
    Spark's dayofweek both exist and disagree (Sunday = 0 vs Sunday = 1),
    so each engine says it its own way.
#}
{% macro iso_day_of_week(timestamp) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'customerio_privacy')(timestamp)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(timestamp) -%}
    isodow({{ timestamp }})
{%- endmacro %}

{% macro spark__iso_day_of_week(timestamp) -%}
    (weekday({{ timestamp }}) + 1)
{%- endmacro %}

{#
    The timestamp `business_days` business days (Monday to Friday, no
    holiday calendar) after `timestamp`, at the same clock time. Days are
    counted from the day after receipt, so a request received on a Saturday
    or Sunday has the same business days ahead as one received the Friday
    before: received Friday 15:00 + 10 = Friday two weeks later 15:00;
    received Saturday 09:00 + 10 = the Friday 13 days later, 09:00.
    business_days is a whole number written in the model (a compile-time
    constant): the week arithmetic is then plain SQL addition of days on
    every engine, with no calendar table.
#}
{% macro add_business_days(timestamp, business_days) -%}
    {%- if business_days is not number or business_days < 0 or business_days != business_days | int -%}
        {{ exceptions.raise_compiler_error("add_business_days needs a whole number of days >= 0, got " ~ business_days) }}
    {%- endif -%}
    {%- set whole_weeks = business_days // 5 -%}
    {%- set extra_days = business_days % 5 -%}
    {%- if business_days == 0 -%}
        {{ timestamp }}
    {%- else -%}
        {#- a weekend day counts as the Friday before it (weekday 5); the days back to that Friday are subtracted -#}
        {%- set weekday = 'least(' ~ iso_day_of_week(timestamp) ~ ', 5)' -%}
        {%- set days_past_friday = 'greatest(' ~ iso_day_of_week(timestamp) ~ ' - 5, 0)' -%}
        {{ timestamp_add(
            'day',
            (whole_weeks * 7 + extra_days) ~ ' + case when ' ~ weekday ~ ' + ' ~ extra_days
                ~ ' > 5 then 2 else 0 end - ' ~ days_past_friday,
            timestamp
        ) }}
    {%- endif -%}
{%- endmacro %}

{#
    Hours from `start` to `end` as a double, exact to the microsecond on
    every engine; null when either is null.
#}
{% macro hours_between(start, end) -%}
    {{ return(adapter.dispatch('hours_between', 'customerio_privacy')(start, end)) }}
{%- endmacro %}

{% macro default__hours_between(start, end) -%}
    (cast(date_diff('microsecond', {{ start }}, {{ end }}) as double) / 3600000000)
{%- endmacro %}

{% macro spark__hours_between(start, end) -%}
    (cast(timestampdiff(MICROSECOND, {{ start }}, {{ end }}) as double) / 3600000000)
{%- endmacro %}
