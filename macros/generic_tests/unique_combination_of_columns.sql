{#
    A composite primary key: no two rows share the same values of
    combination (a list of column names). Nulls count as values, so a key
    with a null part is caught by the key's not_null tests, not hidden here.
#}
{% test unique_combination_of_columns(model, combination) %}

    select
        {{ combination | join(', ') }},
        count(*) as rows_with_this_key
    from {{ model }}
    group by {{ combination | join(', ') }}
    having count(*) > 1

{% endtest %}
