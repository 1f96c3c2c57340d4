#!/usr/bin/perl
# A Perl application logging through Log::Dispatch::Message::Passing -> Message::Passing::Filter::Encoder::JSON
# -> Message::Passing::Output::ZeroMQ (PUB, connect), as in Log::Dispatch::Message::Passing's SYNOPSIS.
# Used by tests/test_interop_perl.py: the messages below are the test's expected records.
#
# Usage: log_dispatch_app.pl ENDPOINT
# Reads commands from standard input, one a line:
#   probe   logs a debug message "probe N" (a PUB socket drops what it sends before the subscriber's
#           subscription has reached it: the caller sends probes until one arrives)
#   go      logs the messages below and exits (or end of input does)
# The socket has a linger of 10 s, so that what is queued at exit is delivered, not discarded.
use strict;
use warnings;
use utf8;
use Log::Dispatch;
use Log::Dispatch::Message::Passing;
use Message::Passing::Filter::Encoder::JSON;
use Message::Passing::Output::ZeroMQ;

my $ep = shift or die "usage: $0 ENDPOINT\n";
my $log = Log::Dispatch->new;
$log->add(Log::Dispatch::Message::Passing->new(
    name      => 'myapp_aggregate_log',
    min_level => 'debug',
    output    => Message::Passing::Filter::Encoder::JSON->new(
        output_to => Message::Passing::Output::ZeroMQ->new(connect => $ep, linger => 10000),
    ),
));

$| = 1;
my $probes = 0;
while (my $cmd = <STDIN>) {
    chomp $cmd;
    last if $cmd eq 'go';
    $log->debug('probe ' . $probes++) if $cmd eq 'probe';
}

$log->debug('debug message');
$log->info("unicode: \x{2603} h\x{e9}llo \x{65e5}\x{672c}\x{8a9e} \x{1F600}");
$log->notice("first line\nsecond line");
$log->warn('warn is logged as warning');
$log->warning('a warning');
$log->err('err is logged as error');
$log->error("quote \" backslash \\ tab \t end");
$log->crit('crit is logged as critical');
$log->alert('an alert');
$log->emerg('emerg is logged as emergency');
$log->log(level => 'notice', message => 'with extra',
          extra => { request_id => 'abc-123', attempt => 2, tags => [ 'a', "\x{df}" ] });
$log->info('last');

undef $log;   # closes the socket now (with its linger), before global destruction
print "logged\n";
