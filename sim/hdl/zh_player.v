// Bus player: a Verilog testbench top that drives the integrated accelerator's host bus from a
// script file, so that loading, running and reading back a kernel need no Python per cycle.
//
// The clock is generated here (Verilator builds it with --timing). The script is read from
// "script.txt" in the working directory, one operation per line, four hex fields:
//     op addr data arg
//   1  write  data to addr
//   2  read   addr
//   3  start: write data to addr (the CONTROL write) and go on with the next operation (the
//             writes that follow load the next tile while this one runs: double buffering)
//   5  wait   until the last start's run raised irq, at most arg cycles after that start
//   4  reset  (rst high for two cycles)
//   0  end
// Requests follow the bus rules of zerohero.hw.host (valid held until ready; one request per
// cycle). "played.txt" gets, in this order of events:
//   "A rdata err"    per bus response, in order;
//   "S load hidden"  per start, when its CONTROL write is accepted: the cycles a write request
//                    was on the bus since the previous start (loading, stalls included) and how
//                    many of those fell while the accelerator was busy (hidden behind a run);
//   "C cycles irq"   per wait: cycles from the edge that accepted the CONTROL write to the edge
//                    that raised irq (irq 0 on a timeout);
//   "R cycles"       after the reads that follow a wait: from that irq to the last response;
//   "T total"        total cycles; then `done` rises.
`timescale 1ns/1ps
module zh_player;
  reg clk = 1'b0;
  always #5 clk = ~clk;

  reg rst = 1'b1;
  reg valid = 1'b0, we = 1'b0;
  reg [31:0] addr = 32'd0, wdata = 32'd0;
  wire ready, ack, err, irq, busy;
  wire [31:0] rdata;
  reg done /*verilator public_flat_rd*/ = 1'b0;

  zerohero_accelerator dut (
    .clk(clk), .rst(rst),
    .bus__valid(valid), .bus__ready(ready), .bus__addr(addr), .bus__we(we),
    .bus__wdata(wdata), .bus__ack(ack), .bus__rdata(rdata), .bus__err(err),
    .irq(irq), .busy(busy));

  localparam ISSUE = 0, WAIT = 1, RESET = 2, DRAIN = 3, DONE = 4;
  integer fin, fout, n;
  reg [2:0] state = RESET;
  reg [31:0] op, a, d, t;
  reg [31:0] count = 32'd0, timeout = 32'd0;
  reg [31:0] total = 32'd0;
  reg start_pending = 1'b0;
  reg reading = 1'b0;                 // between a wait's end and the next non-read
  reg [31:0] mark = 32'd0;            // cycle stamp of the last wait's end
  reg [31:0] started = 32'd0;         // cycle stamp of the last accepted CONTROL write
  reg running = 1'b0, armed = 1'b0;   // the last start's irq not seen yet; irq seen low since
  reg finished = 1'b0;                // ... and then seen high, at cycle `raised`
  reg [31:0] raised = 32'd0;
  reg [31:0] load = 32'd0, hidden = 32'd0;

  initial begin
    fin = $fopen("script.txt", "r");
    fout = $fopen("played.txt", "w");
    if (fin == 0 || fout == 0) begin
      $display("zh_player: cannot open script.txt or played.txt");
      $finish;
    end
  end

  always @(posedge clk) begin
    total <= total + 1;
    if (ack) $fwrite(fout, "A %h %h\n", rdata, err);
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
        if (valid && start_pending) begin      // the CONTROL write is accepted at this edge
          start_pending <= 1'b0;
          $fwrite(fout, "S %h %h\n", load, hidden);
          load <= 32'd0;
          hidden <= 32'd0;
          started <= total;
          running <= 1'b1;
          armed <= 1'b0;
          finished <= 1'b0;
        end
        n = $fscanf(fin, "%h %h %h %h\n", op, a, d, t);
        if (reading && (n != 4 || op != 2)) begin
          $fwrite(fout, "R %h\n", total - mark + (valid ? 1 : 0));
          reading <= 1'b0;
        end
        if (n != 4 || op == 0) begin
          count <= 32'd0;
          state <= DRAIN;
        end else if (op == 4) begin
          rst <= 1'b1;
          count <= 32'd0;
          state <= RESET;
        end else if (op == 5) begin
          timeout <= t;
          state <= WAIT;
        end else begin
          valid <= 1'b1;
          we <= (op != 2);
          addr <= a;
          wdata <= d;
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
      DRAIN: begin                              // the last response arrives one cycle later
        count <= count + 1;
        if (count == 32'd2) begin
          $fwrite(fout, "T %h\n", total);
          $fclose(fout);
          done <= 1'b1;
          state <= DONE;
        end
      end
      default: ;
    endcase
  end
endmodule
