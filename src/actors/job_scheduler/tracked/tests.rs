//! Unit tests of the book: windows from block timestamps, duplicates and re-inclusions, our own
//! answer, reorgs of jobs and of answers, and when a job may be reported.

use super::*;

const US: Address = Address([1; 20]);
const OTHER: Address = Address([2; 20]);

fn tracked(block_number: u64, hash: u8) -> TrackedJob {
    TrackedJob::new(block_number, [hash; 32], 1, false)
}

#[test]
fn the_window_counts_from_the_block_timestamp_not_from_arrival() {
    let buffer = Duration::from_secs(10);
    let on_time = chain_timing(1_000, 5_000, buffer, 1_000_000);
    assert_eq!(on_time.answer_window, Duration::from_millis(15_000));
    assert!(on_time.worth_running);
    // Seen 14.5 s after its block (a restart): too late to run, a timeout report is due soon.
    let late = chain_timing(1_000, 5_000, buffer, 1_014_500);
    assert_eq!(late.answer_window, Duration::from_millis(500));
    assert!(!late.worth_running);
    let past = chain_timing(1_000, 5_000, buffer, 2_000_000);
    assert_eq!(past.answer_window, Duration::ZERO);
}

#[test]
fn huge_values_saturate_instead_of_overflowing() {
    let timing = chain_timing(u64::MAX, u64::MAX, Duration::MAX, 0);
    assert_eq!(timing.answer_window, Duration::from_millis(u64::MAX));
}

#[test]
fn a_second_delivery_from_the_same_block_is_a_duplicate() {
    let mut book = TrackedJobs::default();
    let id = JobId([1; 32]);
    assert_eq!(book.deliver(id, tracked(5, 1)).0, Delivery::New);
    assert_eq!(book.deliver(id, tracked(5, 1)).0, Delivery::Duplicate);
    let (delivery, replaced) = book.deliver(id, tracked(6, 2));
    assert_eq!(delivery, Delivery::New);
    assert_eq!(replaced.map(|job| job.block_number), Some(5));
    assert_eq!(book.verdict(&id, &[2; 32]), RunVerdict::Submit);
    assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::Orphaned);
}

#[test]
fn our_own_output_cancels_a_pending_run_and_a_full_set_completes_the_job() {
    let mut book = TrackedJobs::default();
    let id = JobId([1; 32]);
    let mut job = tracked(5, 1);
    job.selected = 2;
    let wanted = Arc::clone(&job.wanted);
    book.deliver(id, job);
    assert!(
        !book.responded(&id, OTHER, false, 1, 6),
        "one of two outputs"
    );
    assert!(!wanted.cancelled());
    assert!(book.responded(&id, US, true, 2, 6));
    assert!(wanted.cancelled());
    assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::AlreadyAnswered);
    assert_eq!(book.close_window(&id), WindowEnd::Nothing, "complete");
    assert_eq!(book.close_window(&id), WindowEnd::Nothing, "forgotten");
}

#[test]
fn a_job_that_selected_us_is_reported_only_once_our_output_is_on_chain() {
    let mut book = TrackedJobs::default();
    let (missed, answered, other) = (JobId([1; 32]), JobId([2; 32]), JobId([3; 32]));
    for id in [missed, answered] {
        let mut job = TrackedJob::new(5, [1; 32], 2, true);
        job.selected = 2;
        book.deliver(id, job);
    }
    book.deliver(other, tracked(5, 1));
    // Ours and one of two outputs, ours: a report slashes only the other executor.
    book.responded(&answered, US, true, 1, 6);
    assert_eq!(book.close_window(&missed), WindowEnd::OursUnanswered);
    assert_eq!(book.close_window(&answered), WindowEnd::Report);
    assert_eq!(book.close_window(&other), WindowEnd::Report);
}

#[test]
fn a_reorg_orphans_jobs_from_the_fork_on() {
    let mut book = TrackedJobs::default();
    book.deliver(JobId([1; 32]), tracked(4, 1));
    book.deliver(JobId([2; 32]), tracked(5, 2));
    book.deliver(JobId([3; 32]), tracked(6, 3));
    let mut orphaned: Vec<u64> = book
        .orphan_from(5)
        .into_iter()
        .map(|(_, job)| job.block_number)
        .collect();
    orphaned.sort_unstable();
    assert_eq!(orphaned, [5, 6]);
    assert_eq!(book.verdict(&JobId([1; 32]), &[1; 32]), RunVerdict::Submit);
    assert_eq!(
        book.verdict(&JobId([2; 32]), &[2; 32]),
        RunVerdict::Orphaned
    );
}

#[test]
fn a_reorg_removing_only_our_answer_makes_the_job_ours_to_answer_again() {
    let mut book = TrackedJobs::default();
    let id = JobId([1; 32]);
    let job = TrackedJob::new(5, [1; 32], 2, true);
    let wanted = Arc::clone(&job.wanted);
    book.deliver(id, job);
    book.responded(&id, OTHER, false, 1, 6);
    assert!(book.responded(&id, US, true, 2, 7), "both answered");
    // Block 7 (our answer) is replaced; the job (block 5) and the other answer stay.
    assert_eq!(book.forget_responses_from(7), [id]);
    assert!(!wanted.cancelled(), "our output is wanted again");
    assert_eq!(book.verdict(&id, &[1; 32]), RunVerdict::Submit);
    // Were it never answered again, reporting it would slash us.
    assert_eq!(book.close_window(&id), WindowEnd::OursUnanswered);
}

#[test]
fn a_reorg_removing_another_answer_makes_the_job_reportable_again() {
    let mut book = TrackedJobs::default();
    let id = JobId([1; 32]);
    book.deliver(id, tracked(5, 1));
    assert!(book.responded(&id, OTHER, false, 1, 8));
    assert!(book.forget_responses_from(9).is_empty(), "block 8 stays");
    assert_eq!(book.forget_responses_from(8), Vec::<JobId>::new());
    assert_eq!(book.close_window(&id), WindowEnd::Report);
}
