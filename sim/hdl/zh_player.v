// Bus player: a Verilog testbench top that drives the integrated accelerator's host bus from a
// script file, so that loading, running and reading back a kernel need no Python per cycle.
//
// Clock: with ZH_EXTERNAL_CLOCK defined (the Verilator build) `clk` is an input toggled by the
// C++ loop of zh_main.cpp and `done` an output; otherwise (Icarus) the clock is generated here.
// The run ends when the script ends or after +limit=N cycles (then no "T" line is written).
//
// The script is "script.bin" in the working directory: one operation per 16 bytes, four
// big-endian 32-bit words  op addr data arg:
//   1  write  data to addr
//   2  read   addr
//   3  start: write data to addr (the CONTROL write) and go on with the next operation (the
//             writes that follow load the next tile while this one runs: double buffering)
//   5  wait   until the last start's run raised irq, at most arg cycles after that start
//   4  reset  (rst high for two cycles, once the responses in flight are registered)
//   0  end
// Requests (operations 1, 2, 3) are numbered from 0 in script order and follow the bus rules
// of zerohero.hw.host (valid held until ready; one request per cycle). "played.txt" gets, in
// this order of events (hex fields):
//   "A index rdata err"  per response to a read;
//   "E index"            per refused write;
//   "S load hidden"      per start, when its CONTROL write is accepted: the cycles a write
//                        request was on the bus since the previous start (loading, stalls
//                        included) and how many of those fell while the accelerator was busy;
//   "C cycles irq"       per wait: cycles from the edge that accepted the CONTROL write to the
//                        edge that raised irq (irq 0 on a timeout);
//   "R cycles"           after the reads that follow a wait: from that irq to the last response;
//   "T total"            total cycles, at the end of the script; then `done` rises.
// ZH_LATENCY (default 1) is the accelerator's host_latency: the cycles from the edge that
// accepts a request to the one that presents its response.
`timescale 1ns/1ps
`ifndef ZH_LATENCY
`define ZH_LATENCY 1
`endif
`ifdef ZH_EXTERNAL_CLOCK
module zh_player(input clk, output reg done);
`else
module zh_player;
  reg clk = 1'b0;
  always #5 clk = ~clk;
  reg done = 1'b0;
`endif

  reg rst = 1'b1;
  reg valid = 1'b0, we = 1'b0;
  reg [31:0] addr = 32'd0, wdata = 32'd0;
  wire ready, ack, err, irq, busy;
  wire [31:0] rdata;

  zerohero_accelerator dut (
    .clk(clk), .rst(rst),
    .bus__valid(valid), .bus__ready(ready), .bus__addr(addr), .bus__we(we),
    .bus__wdata(wdata), .bus__ack(ack), .bus__rdata(rdata), .bus__err(err),
    .irq(irq), .busy(busy));

  localparam ISSUE = 0, WAIT = 1, RESET = 2, DRAIN = 3, DONE = 4, FLUSH = 5;
  integer fin, fout, n;
  reg [2:0] state = RESET;
  reg [127:0] line;
  reg [31:0] op, a, d, t;
  reg [31:0] count = 32'd0, timeout = 32'd0, limit = 32'hFFFFFFFF;
  reg [31:0] total = 32'd0;
  reg [31:0] index = 32'hFFFFFFFF;    // number of the request on the bus
  // Accepted requests whose responses are still to come (at most ZH_LATENCY), oldest first.
  reg [31:0] q_index [0:7];
  reg q_read [0:7];
  reg [2:0] q_head = 3'd0, q_tail = 3'd0;
  reg start_pending = 1'b0;
  reg reading = 1'b0;                 // between a wait's end and the next non-read
  reg [31:0] mark = 32'd0;            // cycle stamp of the last wait's end
  reg [31:0] started = 32'd0;         // cycle stamp of the last accepted CONTROL write
  reg running = 1'b0, armed = 1'b0;   // the last start's irq not seen yet; irq seen low since
  reg finished = 1'b0;                // ... and then seen high, at cycle `raised`
  reg [31:0] raised = 32'd0;
  reg [31:0] load = 32'd0, hidden = 32'd0;

`ifdef ZH_EXTERNAL_CLOCK
  // The Verilator build reads the script through zh_main.cpp (the whole file at start):
  // $fread costs about 1.3k instructions an operation there (it reads a byte at a time).
  import "DPI-C" function int zh_script_read(output bit [127:0] op);
`endif

  initial begin
`ifdef ZH_EXTERNAL_CLOCK
    done = 1'b0;
    fin = 1;
`else
    fin = $fopen("script.bin", "rb");
`endif
    if (!$value$plusargs("limit=%d", limit)) limit = 32'hFFFFFFFF;
    fout = $fopen("played.txt", "w");
    if (fin == 0 || fout == 0) begin
      $display("zh_player: cannot open script.bin or played.txt");
      $finish;
    end
`ifdef ZH_WAVES
    $dumpfile("waves.vcd");
    $dumpvars(0, zh_player);
`endif
  end

  always @(posedge clk) begin
    total <= total + 1;
    if (total == limit) begin
      $fclose(fout);
      done <= 1'b1;
      $finish;
    end
    if (ack) begin
      if (q_read[q_head]) $fwrite(fout, "A %h %h %h\n", q_index[q_head], rdata, err);
      else if (err) $fwrite(fout, "E %h\n", q_index[q_head]);
      q_head <= q_head + 3'd1;
    end
    if (valid && we && !start_pending) begin
      load <= load + 1;
      if (busy) hidden <= hidden + 1;
    end
    // irq of the last start: START clears an irq still high from the run before, so it
    // counts once it was seen low.
    if (running) begin
      if (!irq) armed <= 1'b1;
      else if (armed) begin
        running <= 1'b0;
        finished <= 1'b1;
        raised <= total;
      end
    end
    case (state)
      RESET: begin
        valid <= 1'b0;
        count <= count + 1;
        if (count == 32'd1) begin
          rst <= 1'b0;
          state <= ISSUE;
        end
      end
      ISSUE: if (!valid || ready) begin
        valid <= 1'b0;
        if (valid) begin                       // the request on the bus is accepted here
          q_index[q_tail] <= index;
          q_read[q_tail] <= !we;
          q_tail <= q_tail + 3'd1;
        end
        if (valid && start_pending) begin      // ... and it is the CONTROL write
          start_pending <= 1'b0;
          $fwrite(fout, "S %h %h\n", load, hidden);
          load <= 32'd0;
          hidden <= 32'd0;
          started <= total;
          running <= 1'b1;
          armed <= 1'b0;
          finished <= 1'b0;
        end
`ifdef ZH_EXTERNAL_CLOCK
        n = zh_script_read(line);
`else
        n = $fread(line, fin);
`endif
        {op, a, d, t} = line;
        if (reading && (n != 16 || op != 2)) begin
          $fwrite(fout, "R %h\n", total - mark + (valid ? `ZH_LATENCY : 0));
          reading <= 1'b0;
        end
        if (n != 16 || op == 0) begin
          count <= 32'd0;
          state <= DRAIN;
        end else if (op == 4) begin
          count <= 32'd0;
          if (`ZH_LATENCY == 1) begin
            rst <= 1'b1;
            state <= RESET;
          end else
            state <= FLUSH;
        end else if (op == 5) begin
          timeout <= t;
          state <= WAIT;
        end else begin
          valid <= 1'b1;
          we <= (op != 2);
          addr <= a;
          wdata <= d;
          index <= index + 1;
          start_pending <= (op == 3);
        end
      end
      WAIT: begin
        if (finished || (running && total - started > timeout)) begin
          $fwrite(fout, "C %h %h\n", finished ? raised - started - 1 : total - started - 1,
                  finished);
          running <= 1'b0;
          finished <= 1'b0;
          mark <= total;
          reading <= 1'b1;
          state <= ISSUE;
        end
      end
      FLUSH: begin                              // the responses in flight are registered by
        count <= count + 1;                     // the edge ZH_LATENCY - 1 after acceptance
        if (count == `ZH_LATENCY - 2) begin
          rst <= 1'b1;
          count <= 32'd0;
          state <= RESET;
        end
      end
      DRAIN: begin                              // until the last response has arrived
        count <= count + 1;
        if (count >= 32'd2 && q_head == q_tail) begin
          $fwrite(fout, "T %h\n", total);
          $fclose(fout);
          done <= 1'b1;
          state <= DONE;
`ifndef ZH_EXTERNAL_CLOCK
          $finish;
`endif
        end
      end
      default: ;
    endcase
  end
endmodule
