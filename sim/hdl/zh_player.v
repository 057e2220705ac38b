// Bus player: a Verilog testbench top that drives the integrated accelerator's host bus from a
// script file, so that loading, running and reading back a kernel need no Python per cycle.
//
// The clock is generated here (Verilator builds it with --timing). The script is read from
// "script.txt" in the working directory, one operation per line, four hex fields:
//     op addr data arg
//   1  write  data to addr
//   2  read   addr
//   3  start: write data to addr (the CONTROL write), then wait until irq is high, at most
//             arg cycles
//   4  reset  (rst high for two cycles)
//   0  end
// Requests follow the bus rules of zerohero.hw.host (valid held until ready; one request per
// cycle). "played.txt" gets one line per bus response, in order ("A rdata err", hex), one per
// start ("C cycles irq load": cycles from the edge that accepted the CONTROL write to the
// edge that raised irq, irq 0 on a timeout, and the cycles from the end of the reset to that
// CONTROL write, i.e. loading), one after the reads that follow a start ("R cycles": from
// irq to the response of the last read) and finally "T total_cycles". Then `done` rises.
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
  reg [63:0] total = 64'd0;
  reg start_pending = 1'b0;
  reg reading = 1'b0;                 // between a start's irq and the next reset or end
  reg [31:0] mark = 32'd0;            // cycle stamp: end of reset, or irq

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
    case (state)
      RESET: begin
        valid <= 1'b0;
        count <= count + 1;
        if (count == 32'd1) begin
          rst <= 1'b0;
          mark <= total[31:0] + 1;
          state <= ISSUE;
        end
      end
      ISSUE: if (!valid || ready) begin
        valid <= 1'b0;
        if (valid && start_pending) begin      // the CONTROL write is accepted at this edge
          start_pending <= 1'b0;
          count <= 32'd0;
          mark <= total[31:0] - mark;         // the loading cycles, logged with the start
          state <= WAIT;
        end else begin
          n = $fscanf(fin, "%h %h %h %h\n", op, a, d, t);
          if (reading && (n != 4 || op == 0 || op == 4)) begin
            $fwrite(fout, "R %h\n", total[31:0] - mark + (valid ? 1 : 0));
            reading <= 1'b0;
          end
          if (n != 4 || op == 0) begin
            count <= 32'd0;
            state <= DRAIN;
          end else if (op == 4) begin
            rst <= 1'b1;
            count <= 32'd0;
            state <= RESET;
          end else begin
            valid <= 1'b1;
            we <= (op != 2);
            addr <= a;
            wdata <= d;
            if (op == 3) begin
              start_pending <= 1'b1;
              timeout <= t;
            end
          end
        end
      end
      WAIT: begin
        if (irq || count >= timeout) begin
          $fwrite(fout, "C %h %h %h\n", count, irq, mark);
          mark <= total[31:0];
          reading <= 1'b1;
          state <= ISSUE;
        end
        count <= count + 1;
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
