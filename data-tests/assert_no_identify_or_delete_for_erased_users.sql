-- R20 (GDPR Art. 17): no pending identify or delete_person may re-create or
-- touch a person whose data was erased; their only action is the suppression.
select
    actions.action_id,
    actions.user_id,
    actions.action_type
from {{ ref('customerio_actions') }} as actions
inner join {{ ref('int_erasures') }} as erasures
    on actions.user_id = erasures.user_id
where actions.action_type in ('identify', 'delete_person')
