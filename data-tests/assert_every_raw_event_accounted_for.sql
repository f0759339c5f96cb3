{#
    R2: every raw privacy row ends in exactly one place: accepted, rejected
    (privacy_events_rejected) or dropped as a duplicate (R1). Returns a row
    when the three counts do not add up to the raw count.
#}
with

raw_rows as (
    select count(*) as row_count from {{ source('raw', 'privacy_events') }}
),

accepted as (
    select count(*) as row_count from {{ ref('int_privacy_events') }}
),

rejected as (
    select count(*) as row_count from {{ ref('privacy_events_rejected') }}
),

duplicates as (
    select count(*) as row_count
    from {{ ref('stg_privacy_events') }}
    where disposition = 'duplicate'
),

final as (
    select
        raw_rows.row_count as raw_count,
        accepted.row_count as accepted_count,
        rejected.row_count as rejected_count,
        duplicates.row_count as duplicate_count
    from raw_rows
    cross join accepted
    cross join rejected
    cross join duplicates
)

select * from final
where raw_count != accepted_count + rejected_count + duplicate_count
