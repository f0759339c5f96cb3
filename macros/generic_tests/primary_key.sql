{#
    A primary key: every row has one and no two rows share it. One pass
    over the model (unique and not_null would read it twice, and on a view
    compute it twice). A failing row is the key with its row count; a null
    key shows as null.
#}
{% test primary_key(model, column_name) %}

    select
        {{ column_name }},
        count(*) as rows_with_this_key
    from {{ model }}
    group by {{ column_name }}
    having count(*) > 1 or {{ column_name }} is null

{% endtest %}
