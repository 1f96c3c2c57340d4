#!/usr/bin/perl
# The Perl original's logging cost, for bench/run.py's handler scenario: a Log::Dispatch logger
# through Log::Dispatch::Message::Passing -> Encoder::JSON -> Output::ZeroMQ (PUSH, connect), as in
# its SYNOPSIS. Logs WARMUP records (the connection is made and the first-send delay passes), then
# N timed ones, then prints one line of JSON: seconds a record, CPU seconds (user + system, all
# threads) of the N, the peak RSS (VmHWM) in bytes, and the records logged in all.
# Usage: log_dispatch_bench.pl ENDPOINT N WARMUP
use strict;
use warnings;
use Time::HiRes qw(time);
use Log::Dispatch;
use Log::Dispatch::Message::Passing;
use Message::Passing::Filter::Encoder::JSON;
use Message::Passing::Output::ZeroMQ;

my ($ep, $n, $warmup) = @ARGV;
die "usage: $0 ENDPOINT N WARMUP\n" unless defined $warmup;
my $log = Log::Dispatch->new;
$log->add(Log::Dispatch::Message::Passing->new(
    name      => 'bench',
    min_level => 'info',
    output    => Message::Passing::Filter::Encoder::JSON->new(
        output_to => Message::Passing::Output::ZeroMQ->new(connect => $ep, socket_type => 'PUSH', linger => 10000),
    ),
));
sub run {
    my ($count) = @_;
    $log->info(sprintf('GET /api/v1/items/%06d HTTP/1.1 200 %d bytes in %dms', $_, 1234, 12)) for 1 .. $count;
}
run($warmup);
my @cpu0 = times;
my $t0 = time;
run($n);
my $elapsed = time - $t0;
my @cpu1 = times;
my $hwm = 0;
if (open(my $st, '<', '/proc/self/status')) {
    while (<$st>) { $hwm = $1 * 1024 if /^VmHWM:\s+(\d+)/ }
}
printf "{\"s_per_record\": %.9f, \"cpu_s\": %.3f, \"peak_rss\": %d, \"logged\": %d}\n",
    $elapsed / $n, ($cpu1[0] + $cpu1[1]) - ($cpu0[0] + $cpu0[1]), $hwm, $n + $warmup;
