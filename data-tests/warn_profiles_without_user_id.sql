{{ config(severity='warn') }}
{#
    Profiles without a user_id cannot be matched to any privacy event and are
    left out of stg_user_profiles; this warning counts them so they are seen.
#}
select *
from {{ source('raw', 'user_profiles') }}
where user_id is null or trim(user_id) = ''
